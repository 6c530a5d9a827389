import { UsageError } from '../../src/cli/command'

/** `generate`'s numeric flags: counts (250000, 250_000, 250k), integers, shares ("5%" or "0.05"). */
export function count (name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const m = /^(\d[\d_,]*)([km]?)$/i.exec(v.trim())
  if (m === null) throw new UsageError(`--${name} must be a whole number (e.g. 250000 or 250k), got "${v}".`)
  const n = Number(m[1].replace(/[_,]/g, '')) * ({ '': 1, k: 1e3, m: 1e6 } as Record<string, number>)[m[2].toLowerCase()]
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} is too large: "${v}".`)
  return n
}

export function int (name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  if (!/^-?\d+$/.test(v.trim())) throw new UsageError(`--${name} must be an integer, got "${v}".`)
  return Number(v)
}

export function parseFraction (name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const s = v.trim()
  const pct = s.endsWith('%')
  const n = Number(pct ? s.slice(0, -1) : s)
  if (s === '' || s === '%' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a percentage ("5%") or a fraction ("0.05"), got "${v}".`)
  const f = pct ? n / 100 : n
  if (f > 1) throw new UsageError(`--${name} must be at most 100%, got "${v}"${pct ? '' : ` (did you mean "${v}%"?)`}.`)
  return f
}
