/**
 * A fake CardTrader API (node:http) for tests, benches and the demo: serves
 * generated exports per token and injects the faults the real one (and the
 * proxies in front of it) produce.
 *
 *   const ct = await FakeCardTrader.start({ windowLimit: 200, windowMs: 10_000 })
 *   const served = ct.addSeller('token-1', { products: 500, seed: 7, gzip: true })
 *   ct.inject('token-1', { kind: 'reset', afterBytes: 4096 })     // next /products/export only
 *   process.env.CARDTRADER_API_URL = ct.url
 *   …
 *   ct.maxInWindow('token-1', 10_000)   // requests seen in the busiest 10 s
 *   await ct.close()
 *
 * Endpoints: /info, /products/export[?expansion_id=X], /expansions/export.
 * An unknown token gets 401. Over the per-token window it answers 429
 * without Retry-After, like CardTrader.
 */
import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import zlib from 'node:zlib'
import { generateProducts, type GenerateOptions } from '../tools/generate'

export type Fault = (
  | { kind: 'status', status: number, body?: string, contentType?: string }
  | { kind: '429', retryAfter?: number }
  | { kind: 'html', status?: number }
  | { kind: 'slowFirstByte', ms: number }
  | { kind: 'trickle', chunkBytes: number, intervalMs: number }
  | { kind: 'reset', afterBytes: number }
  | { kind: 'truncate', afterBytes: number }
) & {
  /** Which requests it hits: a path prefix (default '/products/export'). */
  path?: string
  /** How many matching requests (default 1). */
  times?: number
}

export interface SellerOptions extends Partial<GenerateOptions> {
  /** Explicit products instead of generated ones. */
  list?: unknown[]
  /** The export's bytes as they are (a large file for benches); no products, no expansions. */
  body?: Buffer
  gzip?: boolean
  info?: { id: number, name: string }
}

export interface Served { products: unknown[], body: Buffer, expansions: number[] }

interface Seller extends Served { gzip: boolean, info: { id: number, name: string }, byExpansion: Map<number, Buffer> }

export interface RequestLog { tokenKey: string, path: string, at: number, status: number }

const hashOf = (t: string): string => createHash('sha256').update(t).digest('hex').slice(0, 12)

export class FakeCardTrader {
  readonly requests: RequestLog[] = []
  /** Most sockets open at once (the client pool bound). */
  peakConnections = 0
  private connections = 0
  private readonly sellers = new Map<string, Seller>()
  private readonly faults = new Map<string, Array<Fault & { left: number }>>()
  private readonly sockets = new Set<Socket>()

  private constructor (private readonly server: http.Server, readonly windowLimit: number, readonly windowMs: number) {}

  static async start (o: { windowLimit?: number, windowMs?: number } = {}): Promise<FakeCardTrader> {
    const server = http.createServer()
    const fake = new FakeCardTrader(server, o.windowLimit ?? 200, o.windowMs ?? 10_000)
    server.on('request', (req, res) => { fake.handle(req, res).catch(() => res.destroy()) })
    server.on('connection', s => {
      fake.sockets.add(s)
      fake.connections++
      fake.peakConnections = Math.max(fake.peakConnections, fake.connections)
      s.on('error', () => {})
      s.on('close', () => { fake.connections--; fake.sockets.delete(s) })
    })
    server.on('error', () => {})
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    return fake
  }

  get url (): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v2`
  }

  addSeller (token: string, o: SellerOptions = {}): Served {
    const products = o.body !== undefined ? [] : o.list ?? [...generateProducts({ products: o.products ?? 100, seed: o.seed ?? 1, ...o })]
    const body = o.body ?? Buffer.from('[\n' + products.map(p => JSON.stringify(p)).join(',\n') + '\n]\n')
    const expansions = [...new Set(products.map(expansionOf))].sort((a, b) => a - b)
    const info = o.info ?? { id: 1000 + this.sellers.size, name: `seller-${this.sellers.size}` }
    this.sellers.set(token, { products, body, expansions, gzip: o.gzip === true, info, byExpansion: new Map() })
    return { products, body, expansions }
  }

  inject (token: string, ...faults: Fault[]): void {
    const list = this.faults.get(token) ?? []
    for (const f of faults) list.push({ ...f, left: f.times ?? 1 })
    this.faults.set(token, list)
  }

  /** The most requests of one token inside any window of `ms`. */
  maxInWindow (token: string, ms = this.windowMs): number {
    const key = hashOf(token)
    const times = this.requests.filter(r => r.tokenKey === key).map(r => r.at).sort((a, b) => a - b)
    let best = 0
    for (let i = 0, j = 0; j < times.length; j++) {
      while (times[j] - times[i] >= ms) i++
      best = Math.max(best, j - i + 1)
    }
    return best
  }

  /** Starts a new peak from the sockets open now. */
  resetPeak (): void {
    this.peakConnections = this.connections
  }

  count (token: string, path?: string): number {
    return this.requestsOf(token, path).length
  }

  requestsOf (token: string, path?: string): RequestLog[] {
    const key = hashOf(token)
    return this.requests.filter(r => r.tokenKey === key && (path === undefined || r.path.startsWith(path)))
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }

  private async handle (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const path = url.pathname.replace(/^\/api\/v2/, '') + url.search
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? ''
    const log: RequestLog = { tokenKey: hashOf(token), path, at: Date.now(), status: 0 }
    this.requests.push(log)
    const send = (status: number, body: string | Buffer, type = 'application/json', headers: Record<string, string> = {}): void => {
      log.status = status
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers })
      res.end(body)
    }
    const seller = this.sellers.get(token)
    if (seller === undefined) return send(401, JSON.stringify({ error_code: 'unauthorized', message: 'Unauthorized' }))
    if (this.maxRecent(log.tokenKey, log.at) > this.windowLimit) return send(429, JSON.stringify({ error_code: 'too_many_requests', message: 'Too Many Requests' }))
    const fault = this.takeFault(token, path)
    const body = this.bodyFor(seller, url)
    if (body === null) return send(404, JSON.stringify({ error_code: 'not_found', message: `No route ${url.pathname}` }))
    if (fault?.kind === 'status') return send(fault.status, fault.body ?? JSON.stringify({ error_code: `error_${fault.status}`, message: `Injected ${fault.status}` }), fault.contentType)
    if (fault?.kind === '429') return send(429, '{"error_code":"too_many_requests"}', 'application/json', fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) })
    if (fault?.kind === 'html') return send(fault.status ?? 200, '<html><body><h1>502 Bad Gateway</h1></body></html>', 'text/html')
    if (fault?.kind === 'slowFirstByte') await new Promise(resolve => setTimeout(resolve, fault.ms))
    const gz = seller.gzip && /gzip/.test(String(req.headers['accept-encoding'] ?? ''))
    const wire = gz ? this.gzipped(body) : body
    log.status = 200
    const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8' }
    if (gz) headers['content-encoding'] = 'gzip'
    if (fault?.kind !== 'truncate') headers['content-length'] = wire.length
    res.writeHead(200, headers)
    await this.stream(res, wire, fault)
  }

  private async stream (res: http.ServerResponse, wire: Buffer, fault: Fault | undefined): Promise<void> {
    if (fault?.kind === 'reset' || fault?.kind === 'truncate') {
      res.write(wire.subarray(0, Math.min(fault.afterBytes, wire.length - 1)))
      await new Promise(resolve => setTimeout(resolve, 20))
      if (fault.kind === 'reset') res.socket?.resetAndDestroy(); else res.end()
      return
    }
    if (fault?.kind === 'trickle') {
      for (let i = 0; i < wire.length && !res.destroyed; i += fault.chunkBytes) {
        res.write(wire.subarray(i, i + fault.chunkBytes))
        await new Promise(resolve => setTimeout(resolve, fault.intervalMs))
      }
      res.end()
      return
    }
    res.end(wire)
  }

  private readonly gzCache = new WeakMap<Buffer, Buffer>()
  private gzipped (body: Buffer): Buffer {
    let z = this.gzCache.get(body)
    if (z === undefined) { z = zlib.gzipSync(body, { level: 6 }); this.gzCache.set(body, z) }
    return z
  }

  private bodyFor (s: Seller, url: URL): Buffer | null {
    const p = url.pathname.replace(/^\/api\/v2/, '')
    if (p === '/info') return Buffer.from(JSON.stringify({ id: s.info.id, name: s.info.name, shared_secret: 'not-for-logs' }))
    if (p === '/expansions/export') return Buffer.from(JSON.stringify(s.expansions.map(id => ({ id, code: `e${id}`, name: `Expansion ${id}` }))))
    if (p !== '/products/export') return null
    const e = url.searchParams.get('expansion_id')
    if (e === null) return s.body
    const id = Number(e)
    let b = s.byExpansion.get(id)
    if (b === undefined) {
      b = Buffer.from('[' + s.products.filter(x => expansionOf(x) === id).map(x => JSON.stringify(x)).join(',') + ']')
      s.byExpansion.set(id, b)
    }
    return b
  }

  private takeFault (token: string, path: string): Fault | undefined {
    const list = this.faults.get(token)
    const i = list?.findIndex(f => path.startsWith(f.path ?? '/products/export')) ?? -1
    if (list === undefined || i < 0) return undefined
    const f = list[i]
    if (--f.left <= 0) list.splice(i, 1)
    return f
  }

  private maxRecent (key: string, now: number): number {
    let n = 0
    for (let i = this.requests.length - 1; i >= 0 && now - this.requests[i].at < this.windowMs; i--) if (this.requests[i].tokenKey === key) n++
    return n
  }
}

function expansionOf (p: unknown): number {
  return Number((p as { expansion?: { id?: unknown } }).expansion?.id ?? 0)
}
