export { BinaryWriter, COPY_HEADER, COPY_TRAILER, isUuid } from './binary-writer'
export { writeValue, writeTuple, TupleEncoder } from './tuple'
