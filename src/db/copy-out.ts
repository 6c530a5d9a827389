import type pg from 'pg'

/**
 * `COPY … TO STDOUT` whose data goes straight from the socket's chunks to
 * `sink`, for the engine diff's scope read (src/diff/read.ts): tens of MB
 * in one piece of memory. pg-copy-streams makes a Buffer of every CopyData
 * message (one per row), concatenates them per socket chunk and pushes that
 * through a stream, which the store then copies again: ~250 ms of the main
 * thread for a 250k-row scope. Here each row's bytes are copied once, from
 * the chunk into the store, and no object is made per row.
 *
 * How it runs, as pg-copy-streams' COPY TO does: a submittable query whose
 * submit() takes the connection's socket from pg's parser, reads the COPY's
 * messages itself, and gives the socket back at CopyDone (or at an
 * ErrorResponse) with the bytes it has not read, so pg parses
 * CommandComplete, ReadyForQuery and errors as for any query. It pauses
 * every `yieldBytes` and goes on at the next turn of the event loop: a
 * socket backlog parsed in one go held the loop 45 ms.
 */
export type CopyOutSink = (chunk: Buffer, start: number, end: number) => void

const COPY_DATA = 0x64 // d
const COPY_DONE = 0x63 // c
const ERROR_RESPONSE = 0x45 // E

class CopyOutQuery {
  /** Set by pg's client.query (its query_timeout wraps it): called once, when the query ends. */
  callback?: (err?: Error) => void
  private connection: any = null
  private pgOnData: ((b: Buffer) => void) | null = null
  private readonly onReadable = (): void => this.forward()
  /** The message header being read (a header may straddle two chunks). */
  private readonly header = Buffer.alloc(5)
  private headerBytes = 0
  private code = 0
  /** Bytes of the current message's body not read yet. */
  private remaining = 0
  private sinceYield = 0
  private yielding = false
  private finished = false

  constructor (readonly text: string, private readonly sink: CopyOutSink, private readonly yieldBytes: number,
    private readonly done: (err: Error | null) => void) {}

  submit (connection: any): void {
    this.connection = connection
    const socket = connection.stream
    const listeners = socket.listeners('data')
    if (listeners.length !== 1) throw new Error(`COPY TO: expected pg's one data listener on the socket, found ${listeners.length as number}`)
    this.pgOnData = listeners[0]
    socket.removeListener('data', this.pgOnData)
    socket.pause()
    socket.on('readable', this.onReadable)
    connection.query(this.text)
  }

  private forward (): void {
    if (this.yielding || this.pgOnData === null) return
    const socket = this.connection.stream
    let chunk: Buffer | null
    while ((chunk = socket.read()) !== null) {
      if (!this.parse(chunk) || this.pgOnData === null) return
      if (this.sinceYield >= this.yieldBytes) {
        this.sinceYield = 0
        this.yielding = true
        setImmediate(() => { this.yielding = false; this.forward() })
        return
      }
    }
  }

  /** False once the socket went back to pg (CopyDone or an error: the rest is pg's). */
  private parse (b: Buffer): boolean {
    const n = b.length
    let i = 0
    this.sinceYield += n
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i)
        if (this.code === COPY_DATA) this.sink(b, i, i + take)
        i += take
        this.remaining -= take
        continue
      }
      if (this.headerBytes === 0) {
        // An error ends copy-out mode: pg reads the ErrorResponse from its first byte.
        if (b[i] === ERROR_RESPONSE) { this.giveBack(b.subarray(i)); return false }
      }
      // The 5-byte header: code and length (which counts itself, not the code).
      if (this.headerBytes === 0 && n - i >= 5) {
        this.code = b[i]
        this.remaining = b.readUInt32BE(i + 1) - 4
        i += 5
      } else {
        while (this.headerBytes < 5 && i < n) this.header[this.headerBytes++] = b[i++]
        if (this.headerBytes < 5) return true
        this.headerBytes = 0
        this.code = this.header[0]
        this.remaining = this.header.readUInt32BE(1) - 4
      }
      if (this.code === COPY_DONE) { this.giveBack(b.subarray(i + this.remaining)); return false }
      // CopyOutResponse, CopyData, and what the server may send in between (notices, parameter
      // status, notifications): only CopyData's bodies are kept.
    }
    return true
  }

  /** Hands the socket back to pg's parser with the bytes after the COPY's data. */
  private giveBack (rest: Buffer): void {
    const socket = this.connection.stream
    const pgOnData = this.pgOnData as (b: Buffer) => void
    this.pgOnData = null
    socket.removeListener('readable', this.onReadable)
    socket.on('data', pgOnData)
    if (rest.length > 0) pgOnData(rest)
    // As pg-copy-streams: resumed on the next tick, after pg's handler has run on what was read.
    process.nextTick(() => socket.resume())
  }

  handleCommandComplete (): void {}

  handleReadyForQuery (): void { this.finish(null) }

  handleError (err: Error): void {
    if (this.pgOnData !== null && this.connection !== null) {
      // The socket died while it was ours: give back the listener, not the bytes.
      this.connection.stream.removeListener('readable', this.onReadable)
      this.connection.stream.on('data', this.pgOnData)
      this.pgOnData = null
    }
    this.finish(err)
  }

  private finish (err: Error | null): void {
    if (this.finished) return
    this.finished = true
    // Clears pg's query_timeout timer, which only the callback does.
    this.callback?.(err ?? undefined)
    this.done(err)
  }
}

/** Runs `sql` (a COPY … TO STDOUT) on `client`, each chunk of its data to `sink`, in order. */
export async function copyOutTo (client: pg.ClientBase, sql: string, sink: CopyOutSink, yieldBytes = 1 << 20): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    client.query(new CopyOutQuery(sql, sink, yieldBytes, err => { if (err !== null) reject(err); else resolve() }) as any)
  })
}
