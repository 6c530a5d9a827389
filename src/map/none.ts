import type { MappingConfig } from './config'
import type { BlueprintResolver, MappingStats, Resolution } from './types'

/** Mapping off: every blueprint comes back unmapped (kind 0); the caller keeps the product with a NULL print id. */
export class NoneResolver implements BlueprintResolver {
  readonly source = 'none' as const
  readonly kinds: string[]
  readonly excluded: Uint8Array

  constructor (cfg: MappingConfig) {
    this.kinds = cfg.kinds
    this.excluded = cfg.excluded
  }

  async check (): Promise<void> {}

  async resolve (ids: Int32Array, _stats: MappingStats): Promise<Resolution> {
    return { printIds: new Int32Array(ids.length), kinds: new Uint8Array(ids.length) }
  }

  clearCache (): void {}

  async close (): Promise<void> {}
}
