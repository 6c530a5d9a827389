import type cliProgressType from 'cli-progress'
import type { Progress } from '../report/types'
import { grouped } from './digits'

const n = grouped
const mib = (b: number): string => `${(b / (1 << 20)).toFixed(1)} MiB`

/**
 * The live progress bar of `brx-sync sync` on a terminal (cli-progress), fed
 * by the sync's onProgress: phase, rows read, bytes and percent when the
 * input size is known, rows/s, ETA. Log lines go above it (`log`).
 */
export class ProgressView {
  private readonly multi: cliProgressType.MultiBar
  private bar: cliProgressType.SingleBar | null = null
  private readonly t0 = performance.now()
  private stopped = false

  constructor (stream: NodeJS.WriteStream = process.stderr) {
    // Required only when a bar is shown (a terminal): piped and --json runs never load it.
    const cliProgress = require('cli-progress') as typeof cliProgressType
    this.multi = new cliProgress.MultiBar({
      stream,
      format: (options, params, payload: Record<string, string>) => {
        const known = payload.known === '1'
        const bar = known ? cliProgress.Format.BarFormat(params.progress, options) + ` ${Math.round(params.progress * 100)}% ` : ''
        const eta = known && payload.phase === 'load' && params.eta > 0 && Number.isFinite(params.eta) ? ` | ETA ${params.eta}s` : ''
        return `${payload.phase.padEnd(5)} ${bar}| ${payload.rows} rows | ${payload.bytes} | ${payload.rate} rows/s${eta}`
      },
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 30,
      fps: 10,
      etaBuffer: 20,
    }, cliProgress.Presets.shades_classic)
  }

  update (p: Progress): void {
    if (this.stopped) return
    const total = p.bytesTotal ?? 0
    const known = p.bytesTotal !== null && p.bytesTotal > 0
    const value = p.phase === 'done' ? total : known && p.percent !== null ? Math.round(p.percent / 100 * total) : 0
    const seconds = (performance.now() - this.t0) / 1000
    const payload = {
      phase: p.phase,
      known: known ? '1' : '0',
      rows: n(p.rowsRead),
      bytes: known ? `${mib(p.bytesRead)} of ${mib(total)}${p.bytesRead > total ? ' (unzipped)' : ''}` : mib(p.bytesRead),
      rate: n(Math.round(p.rowsRead / Math.max(seconds, 0.001))),
    }
    if (this.bar === null) this.bar = this.multi.create(known ? total : 1, value, payload)
    else this.bar.update(value, payload)
  }

  /** A line above the bar (a log line); ends with a newline. */
  log (line: string): void {
    if (this.stopped || this.bar === null) process.stderr.write(line)
    else this.multi.log(line.endsWith('\n') ? line : line + '\n')
  }

  stop (): void {
    if (this.stopped) return
    this.stopped = true
    // stop() renders the bars but not the log lines still buffered since the last redraw: flush them first.
    this.multi.update()
    this.multi.stop()
  }
}
