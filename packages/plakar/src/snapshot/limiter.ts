/** A counting semaphore: at most `max` holders at once, the others wait in order. */
export class Limiter {
  private active = 0
  private readonly waiting: (() => void)[] = []

  constructor(private readonly max: number) {}

  async acquire(): Promise<void> {
    if (this.active < this.max) {
      this.active++
      return
    }
    await new Promise<void>((r) => this.waiting.push(r))
  }

  release(): void {
    const next = this.waiting.shift()
    if (next) next()
    else this.active--
  }
}

/** Wait for every promise (each already marked handled), then throw the first failure. */
export async function settle(pending: readonly Promise<unknown>[]): Promise<void> {
  await Promise.all(pending)
}
