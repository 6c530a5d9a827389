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
/** Messages copy-out mode may carry besides CopyData: CopyOutResponse, NoticeResponse, ParameterStatus, NotificationResponse. */
const SKIPPED = new Set([0x48, 0x4e, 0x53, 0x41])

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
  /** Settled early (pg's query timeout, or the sink threw): the rest of the COPY is read and dropped. */
  private draining = false
  /** The server answered something that is not a COPY TO STDOUT: reported at ReadyForQuery. */
  private notCopyOut: Error | null = null
  private finished = false

  constructor (readonly text: string, private readonly sink: CopyOutSink, private readonly yieldBytes: number,
    private readonly done: (err: Error | null) => void) {}

  /** pg's _pulseQueryQueue takes a returned error (a thrown one would leave the client wedged). */
  submit (connection: any): Error | undefined {
    const socket = connection.stream
    const listeners = socket.listeners('data')
    if (listeners.length !== 1) return new Error(`COPY TO: expected pg's one data listener on the socket, found ${listeners.length as number}`)
    this.connection = connection
    this.pgOnData = listeners[0]
    socket.removeListener('data', this.pgOnData)
    socket.pause()
    socket.on('readable', this.onReadable)
    connection.query(this.text)
    return undefined
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

  /** False once the socket went back to pg (CopyDone, an error, anything else: the rest is pg's). */
  private parse (b: Buffer): boolean {
    const n = b.length
    let i = 0
    this.sinceYield += n
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i)
        if (this.code === COPY_DATA && !this.draining) this.take(b, i, i + take)
        i += take
        this.remaining -= take
        continue
      }
      // An error ends copy-out mode: pg reads the ErrorResponse from its first byte.
      if (this.headerBytes === 0 && b[i] === ERROR_RESPONSE) { this.giveBack(b.subarray(i)); return false }
      // The 5-byte header: code and length (which counts itself, not the code).
      let straddled = false
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
        straddled = true
      }
      if (this.code === COPY_DONE) { this.giveBack(b.subarray(i + this.remaining)); return false }
      if (this.code !== COPY_DATA && !SKIPPED.has(this.code)) {
        // Not copy-out at all (a plain query, COPY FROM, an empty query): pg parses it from its first byte.
        this.notCopyOut = new Error(`COPY TO: the server answered message "${String.fromCharCode(this.code)}", not copy-out data (is the statement a COPY … TO STDOUT?)`)
        this.remaining = 0
        this.giveBack(straddled ? Buffer.concat([this.header, b.subarray(i)]) : b.subarray(i - 5))
        return false
      }
      // Notices, parameter status and notifications sent during the COPY are dropped, as pg-copy-streams drops them.
    }
    return true
  }

  private take (b: Buffer, s: number, e: number): void {
    try {
      this.sink(b, s, e)
    } catch (err) {
      // The query settles with the sink's error; the socket stays ours until the COPY's end, then goes back to pg.
      this.draining = true
      this.finish(err as Error)
    }
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

  // What pg calls on the active query for what it parses after a hand-back.
  handleCommandComplete (): void {}
  handleRowDescription (): void {}
  handleDataRow (): void {}
  handleEmptyQuery (): void {}
  handleCopyData (): void {}
  handleCopyInResponse (connection: any): void { connection.sendCopyFail('brx-sync: COPY TO expected, not COPY FROM') }

  handleReadyForQuery (): void { this.finish(this.notCopyOut) }

  /**
   * A server error (the socket is pg's again by then), the socket's death,
   * or pg's query timeout while the socket is still ours: then the rest of
   * the COPY is read and dropped, and the socket goes back to pg at its end,
   * so pg sees CommandComplete and ReadyForQuery and the connection is
   * usable (handing it back mid-message would feed pg's parser half a row).
   */
  handleError (err: Error): void {
    if (this.pgOnData !== null) this.draining = true
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

/**
 * Runs `sql` (a COPY … TO STDOUT) on `client`, each chunk of its data to
 * `sink`, in order. Notices the server sends during the COPY are dropped.
 */
export async function copyOutTo (client: pg.ClientBase, sql: string, sink: CopyOutSink, yieldBytes = 1 << 20): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    client.query(new CopyOutQuery(sql, sink, yieldBytes, err => { if (err !== null) reject(err); else resolve() }) as any)
  })
}
