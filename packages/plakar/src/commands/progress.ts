import { duration, humanSize } from './format.js'

/**
 * A progress line redrawn in place on a terminal, four times a second; nothing at all when
 * the stream is not a terminal. The caller prints its one-line summary after stop().
 */
export interface ProgressStream {
  write(text: string): unknown
  readonly isTTY?: boolean
  readonly columns?: number
}

export interface ProgressCounters {
  readonly files: number
  readonly bytes: number
  readonly errors: number
}

export class ProgressLine {
  private timer: NodeJS.Timeout | null = null
  private readonly started = Date.now()

  constructor(
    private readonly stream: ProgressStream,
    private readonly verb: string,
    private readonly counters: ProgressCounters,
    /** Expected total bytes, for the ETA; undefined while unknown (asked at every redraw). */
    private readonly total: () => number | undefined,
    /** What `files` counts, as the line names it. */
    private readonly unit = 'files',
  ) {}

  start(): this {
    if (this.stream.isTTY) {
      this.draw()
      this.timer = setInterval(() => this.draw(), 250)
      this.timer.unref()
    }
    return this
  }

  stop(): void {
    if (this.timer === null) return
    clearInterval(this.timer)
    this.timer = null
    this.stream.write('\r\x1b[K')
  }

  /** The text of the line, also used by tests. */
  render(now = Date.now()): string {
    const elapsed = Math.max((now - this.started) / 1000, 0.001)
    const c = this.counters
    const rate = c.bytes / elapsed
    let line = `${this.verb}: ${c.files} ${this.unit}, ${humanSize(c.bytes)}, ${humanSize(Math.round(rate))}/s`
    const total = this.total()
    if (total !== undefined && total > 0 && rate > 0) {
      const pct = Math.min(100, Math.floor((c.bytes / total) * 100))
      line += `, ${pct}%, ETA ${duration(Math.max(0, total - c.bytes) / rate)}`
    }
    if (c.errors > 0) line += `, ${c.errors} errors`
    return line
  }

  private draw(): void {
    const width = (this.stream.columns ?? 80) - 1
    this.stream.write(`\r\x1b[K${this.render().slice(0, width)}`)
  }
}
