/**
 * Reads only the fields a dataset uses from one JSON object record, straight
 * from its UTF-8 bytes, instead of JSON.parse building every string and
 * object of the record.
 *
 * The contract is all-or-nothing: it returns an object whose named fields
 * hold exactly what JSON.parse would have put there, or `null` when the
 * record holds anything it does not read exactly (escapes in a key, a nested
 * field that is not an object, invalid JSON, a depth past MAX_DEPTH…). The
 * caller then parses the record with JSON.parse as before, so a record is
 * never read differently, only faster. Fields not named are still checked as
 * valid JSON (a record JSON.parse refuses must be refused), then skipped.
 *
 * Three kinds of field:
 *  - a value: strings, numbers, booleans, null as JSON.parse gives them; an
 *    object or array value makes the record fall back;
 *  - `pick`: an object of which only the named members are read (its other
 *    members are skipped); any other value as JSON.parse gives it;
 *  - `json`: the value's JSON text as JSON.stringify(JSON.parse(text)) would
 *    write it. When the text already is in that form (no whitespace, no
 *    escapes, only safe integers, no index-like or repeated keys) it is taken
 *    as it is, a `JsonText`; otherwise the value is parsed with JSON.parse.
 */

export interface FieldPlan {
  /** Plain values by key. */
  values: readonly string[]
  /** Objects of which only some members are read: key -> member keys. */
  pick?: Readonly<Record<string, readonly string[]>>
  /** Values wanted as their canonical JSON text. */
  json?: readonly string[]
}

/** A JSON value's text, already exactly what JSON.stringify of its parse would write. */
export class JsonText {
  constructor (readonly text: string) {}
}

const enum K { Value, Pick, Json }
interface Slot { key: Uint8Array, name: string, kind: K, index: number, members?: CompiledPlan }
export interface CompiledPlan {
  /** Slots by key length, then compared byte by byte. */
  byLength: Array<Slot[] | undefined>
  names: string[]
  /** The values read, by slot index (scratch, reused: `build` copies them out). */
  values: unknown[]
  /** An object literal of the plan's fields from `values`: one fixed shape for every record. */
  build: (v: unknown[]) => Record<string, unknown>
  /**
   * The key last seen at each member position and its slot (undefined: a
   * key the plan does not name). Records of one export list their keys in
   * the same order, so a key is usually matched by one byte comparison
   * against this, instead of scanning the string and looking it up.
   */
  seen: Array<{ key: Uint8Array, slot: Slot | undefined } | undefined>
}

export function compileFieldPlan (plan: FieldPlan): CompiledPlan {
  const slots: Slot[] = []
  const add = (name: string, kind: K, members?: CompiledPlan): void => {
    if (slots.some(s => s.name === name)) throw new Error(`field plan names ${name} twice`)
    slots.push({ key: Buffer.from(name, 'utf8'), name, kind, index: slots.length, members })
  }
  for (const v of plan.values) add(v, K.Value)
  for (const [k, m] of Object.entries(plan.pick ?? {})) add(k, K.Pick, compileFieldPlan({ values: m }))
  for (const j of plan.json ?? []) add(j, K.Json)
  const byLength: Array<Slot[] | undefined> = []
  for (const s of slots) (byLength[s.key.length] ??= []).push(s)
  const names = slots.map(s => s.name)
  // Keys are JSON.stringify'd into the literal: any name is a valid, inert property key.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval, no-new-func
  const build = new Function('v', `return {${names.map((n, i) => `${JSON.stringify(n)}: v[${i}]`).join(', ')}}`) as CompiledPlan['build']
  return { byLength, names, values: new Array<unknown>(names.length).fill(undefined), build, seen: [] }
}

const QUOTE = 0x22; const BSLASH = 0x5c; const COLON = 0x3a; const COMMA = 0x2c
const LBRACE = 0x7b; const RBRACE = 0x7d; const LBRACK = 0x5b; const RBRACK = 0x5d
const MINUS = 0x2d; const PLUS = 0x2b; const DOT = 0x2e; const ZERO = 0x30; const NINE = 0x39
const MAX_DEPTH = 64

/** Buffer's undocumented but stable slicers: no encoding lookup, no argument juggling (what toString calls). */
type SliceBuffer = Buffer & { latin1Slice: (s: number, e: number) => string, utf8Slice: (s: number, e: number) => string }

/** Thrown internally to fall back; never escapes readFields. */
const DECLINE = Symbol('decline')

function isWs (c: number): boolean { return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 }

/**
 * One pass over one record. `pos` is the cursor; `canonical` tracks whether
 * the `json` value being skipped is already in JSON.stringify's form.
 */
class Reader {
  pos = 0
  end = 0
  canonical = true
  buf: SliceBuffer = EMPTY

  ws (): void {
    const b = this.buf
    let p = this.pos
    // Every JSON whitespace byte is <= 0x20; compact JSON has none, so one compare usually settles it.
    if (b[p] > 0x20) return
    while (p < this.end && isWs(b[p])) p++
    this.pos = p
  }

  /** After a string's opening quote: the index of its closing quote. `escaped` / `ascii` say what it held. */
  stringEnd (): number {
    const b = this.buf; const end = this.end
    let p = this.pos
    let hi = 0
    this.escaped = false
    while (p < end) {
      const c = b[p]
      if (c === QUOTE) { this.ascii = hi < 0x80; return p }
      if (c < 0x20) throw DECLINE
      if (c === BSLASH) {
        this.escaped = true
        const n = b[p + 1]
        if (n === 0x75) { // \uXXXX
          for (let k = 2; k < 6; k++) if (!isHex(b[p + k])) throw DECLINE
          p += 6
          continue
        }
        if (n !== QUOTE && n !== BSLASH && n !== 0x2f && n !== 0x62 && n !== 0x66 && n !== 0x6e && n !== 0x72 && n !== 0x74) throw DECLINE
        p += 2
        continue
      }
      hi |= c
      p++
    }
    throw DECLINE
  }

  escaped = false
  ascii = true

  /** A string value at pos (the opening quote), as JSON.parse decodes it. */
  string (): string {
    const start = ++this.pos
    const close = this.stringEnd()
    this.pos = close + 1
    if (this.escaped) return JSON.parse(this.buf.toString('utf8', start - 1, close + 1)) as string
    return this.ascii ? this.buf.latin1Slice(start, close) : this.buf.utf8Slice(start, close)
  }

  /**
   * A number at pos, checked against JSON's grammar. Integers of up to 15
   * digits are summed by hand; anything else is Number() of the text, which
   * rounds exactly as JSON.parse does.
   */
  number (): number {
    const b = this.buf; const end = this.end
    const start = this.pos
    let p = start
    const neg = b[p] === MINUS
    if (neg) p++
    const d0 = p
    if (b[p] === ZERO) p++
    else if (b[p] > ZERO && b[p] <= NINE) { while (p < end && b[p] >= ZERO && b[p] <= NINE) p++ } else throw DECLINE
    const intDigits = p - d0
    let simple = true
    if (b[p] === DOT) {
      simple = false; p++
      const f = p
      while (p < end && b[p] >= ZERO && b[p] <= NINE) p++
      if (p === f) throw DECLINE
    }
    if (b[p] === 0x65 || b[p] === 0x45) {
      simple = false; p++
      if (b[p] === PLUS || b[p] === MINUS) p++
      const f = p
      while (p < end && b[p] >= ZERO && b[p] <= NINE) p++
      if (p === f) throw DECLINE
    }
    this.pos = p
    if (simple && intDigits <= 15) {
      let n = 0
      for (let i = d0; i < p; i++) n = n * 10 + (b[i] - ZERO)
      // -0 stays -0, as JSON.parse gives it.
      if (neg) n = -n
      // JSON.stringify writes -0 as 0: not canonical.
      if (neg && n === 0) this.canonical = false
      return n
    }
    this.canonical = false
    return Number(b.latin1Slice(start, p))
  }

  literal (): boolean | null {
    const b = this.buf; const p = this.pos
    if (b[p] === 0x74 && b[p + 1] === 0x72 && b[p + 2] === 0x75 && b[p + 3] === 0x65) { this.pos = p + 4; return true }
    if (b[p] === 0x66 && b[p + 1] === 0x61 && b[p + 2] === 0x6c && b[p + 3] === 0x73 && b[p + 4] === 0x65) { this.pos = p + 5; return false }
    if (b[p] === 0x6e && b[p + 1] === 0x75 && b[p + 2] === 0x6c && b[p + 3] === 0x6c) { this.pos = p + 4; return null }
    throw DECLINE
  }

  /** A scalar value; an object or array declines. */
  scalar (): unknown {
    const c = this.buf[this.pos]
    if (c === QUOTE) return this.string()
    if (c === MINUS || (c >= ZERO && c <= NINE)) return this.number()
    if (c === LBRACE || c === LBRACK) throw DECLINE
    return this.literal()
  }

  /**
   * Skips any value, checking it is valid JSON. While `canonical` holds it
   * also checks JSON.stringify would write the same bytes: whitespace, an
   * escape, a non-integer or unsafe number, an index-like key ("12": V8
   * orders those first) or a key seen twice in the same object clears it.
   */
  skip (depth: number): void {
    if (depth > MAX_DEPTH) throw DECLINE
    const b = this.buf
    const c = b[this.pos]
    if (c === QUOTE) {
      this.pos++
      this.pos = this.stringEnd() + 1
      if (this.escaped) this.canonical = false
      return
    }
    if (c === LBRACE) {
      this.pos++
      // This object's keys so far, as (start, end) pairs on the key stack, to spot a repeated one.
      const base = this.keyTop
      if (this.wsCanon() && b[this.pos] === RBRACE) { this.pos++; return }
      for (;;) {
        if (b[this.pos] !== QUOTE) throw DECLINE
        const ks = ++this.pos
        const ke = this.stringEnd()
        this.pos = ke + 1
        if (this.canonical) {
          if (this.escaped || isIndexLike(b, ks, ke) || this.seenKey(base, ks, ke)) this.canonical = false
          else this.pushKey(ks, ke)
        }
        this.wsCanon()
        if (b[this.pos] !== COLON) throw DECLINE
        this.pos++
        this.wsCanon()
        this.skip(depth + 1)
        this.wsCanon()
        const d = b[this.pos++]
        if (d === RBRACE) { this.keyTop = base; return }
        if (d !== COMMA) throw DECLINE
        this.wsCanon()
      }
    }
    if (c === LBRACK) {
      this.pos++
      if (this.wsCanon() && b[this.pos] === RBRACK) { this.pos++; return }
      for (;;) {
        this.skip(depth + 1)
        this.wsCanon()
        const d = b[this.pos++]
        if (d === RBRACK) return
        if (d !== COMMA) throw DECLINE
        this.wsCanon()
      }
    }
    if (c === MINUS || (c >= ZERO && c <= NINE)) { this.number(); return }
    this.literal()
  }

  /** Keys of the objects being skipped, innermost last: (start, end) pairs. */
  keys = new Int32Array(256)
  keyTop = 0

  pushKey (s: number, e: number): void {
    if (this.keyTop + 2 > this.keys.length) { this.canonical = false; return }
    this.keys[this.keyTop++] = s
    this.keys[this.keyTop++] = e
  }

  /** Whether buf[s, e) equals a key pushed since `base`. */
  seenKey (base: number, s: number, e: number): boolean {
    const b = this.buf; const keys = this.keys
    const n = e - s
    outer: for (let k = base; k < this.keyTop; k += 2) {
      const ks = keys[k]
      if (keys[k + 1] - ks !== n) continue
      for (let i = 0; i < n; i++) if (b[ks + i] !== b[s + i]) continue outer
      return true
    }
    return false
  }

  /** Whitespace, which JSON.stringify never writes; returns true to chain. */
  wsCanon (): boolean {
    const p = this.pos
    this.ws()
    if (this.pos !== p) this.canonical = false
    if (this.pos >= this.end) throw DECLINE
    return true
  }

  /** An object's members at pos (its `{`), the named ones read into `plan.values`. */
  object (plan: CompiledPlan, depth: number): void {
    const out = plan.values
    const b = this.buf
    if (b[this.pos] !== LBRACE) throw DECLINE
    this.pos++
    this.ws()
    if (b[this.pos] === RBRACE) { this.pos++; return }
    for (let member = 0; ; member++) {
      if (b[this.pos] !== QUOTE) throw DECLINE
      const ks = ++this.pos
      let slot: Slot | undefined
      const seen = member < MAX_SEEN ? plan.seen[member] : undefined
      if (seen !== undefined && sameKey(b, ks, seen.key)) {
        // The bytes of a key seen before, then its closing quote: the same key (it has no escape).
        slot = seen.slot
        this.pos = ks + seen.key.length + 1
      } else {
        const ke = this.stringEnd()
        this.pos = ke + 1
        // An escaped key may spell a named field: only JSON.parse can tell.
        if (this.escaped) throw DECLINE
        slot = findSlot(plan, b, ks, ke)
        if (member < MAX_SEEN && ke - ks <= 64) plan.seen[member] = { key: Uint8Array.prototype.slice.call(b, ks, ke), slot }
      }
      this.ws()
      if (b[this.pos] !== COLON) throw DECLINE
      this.pos++
      this.ws()
      if (this.pos >= this.end) throw DECLINE
      if (slot === undefined) this.skip(depth + 1)
      else if (slot.kind === K.Value) out[slot.index] = this.scalar()
      else if (slot.kind === K.Pick) out[slot.index] = this.pick(slot.members as CompiledPlan, depth + 1)
      else out[slot.index] = this.json(depth + 1)
      this.ws()
      const d = b[this.pos++]
      if (d === RBRACE) return
      if (d !== COMMA) throw DECLINE
      this.ws()
    }
  }

  /** A `pick` field's value: an object with only the named members; a scalar or an array as JSON.parse gives it. */
  pick (plan: CompiledPlan, depth: number): unknown {
    const start = this.pos
    if (this.buf[start] === LBRACK) {
      this.skip(depth)
      return JSON.parse(this.buf.toString('utf8', start, this.pos))
    }
    if (this.buf[start] !== LBRACE) return this.scalar()
    plan.values.fill(undefined)
    this.object(plan, depth)
    return plan.build(plan.values)
  }

  /**
   * A `json` field's value: an object's text when canonical, else what
   * JSON.parse makes of it. Arrays and scalars are always parsed: a caller
   * that takes an object's text must still see them for what they are.
   */
  json (depth: number): unknown {
    const start = this.pos
    const c = this.buf[start]
    if (c !== LBRACE && c !== LBRACK) return this.scalar()
    this.canonical = c === LBRACE
    this.keyTop = 0
    this.skip(depth)
    if (this.canonical) return new JsonText(this.buf.utf8Slice(start, this.pos))
    return JSON.parse(this.buf.toString('utf8', start, this.pos))
  }
}

function isHex (c: number): boolean {
  return (c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
}

/** "0", "7", "123": keys V8 keeps as array indices, ordered first. Leading zeros ("01") are plain keys. */
function isIndexLike (b: SliceBuffer, s: number, e: number): boolean {
  if (e === s || e - s > 10) return false
  if (b[s] === ZERO && e - s > 1) return false
  for (let i = s; i < e; i++) if (b[i] < ZERO || b[i] > NINE) return false
  return Number(b.latin1Slice(s, e)) < 4294967295
}

/** Member positions whose last key is remembered (see CompiledPlan.seen). */
const MAX_SEEN = 64

/** Whether b holds exactly `key` at s, followed by the closing quote. */
function sameKey (b: Uint8Array, s: number, key: Uint8Array): boolean {
  const n = key.length
  if (b[s + n] !== QUOTE) return false
  for (let i = 0; i < n; i++) if (b[s + i] !== key[i]) return false
  return true
}

function findSlot (plan: CompiledPlan, b: Buffer, s: number, e: number): Slot | undefined {
  const cands = plan.byLength[e - s]
  if (cands === undefined) return undefined
  outer: for (const slot of cands) {
    const k = slot.key
    for (let i = 0; i < k.length; i++) if (b[s + i] !== k[i]) continue outer
    return slot
  }
  return undefined
}

const EMPTY = Buffer.alloc(0) as SliceBuffer
const reader = new Reader()

/**
 * The named fields of the JSON object in buf[start, end), or null to fall
 * back to JSON.parse. Fields the record does not have are `undefined`, as
 * they would be on JSON.parse's object. `buf` must be valid UTF-8.
 */
export function readFields (plan: CompiledPlan, buf: Buffer, start: number, end: number): Record<string, unknown> | null {
  const r = reader
  r.buf = buf as SliceBuffer; r.pos = start; r.end = end
  try {
    r.ws()
    plan.values.fill(undefined)
    r.object(plan, 0)
    r.ws()
    if (r.pos !== end) return null
    return plan.build(plan.values)
  } catch (err) {
    if (err === DECLINE) return null
    // JSON.parse of an escaped string or a non-canonical json value refused it: let the caller's parse report it.
    if (err instanceof SyntaxError) return null
    throw err
  } finally {
    r.buf = EMPTY
  }
}
