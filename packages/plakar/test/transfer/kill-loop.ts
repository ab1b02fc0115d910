import { spawn } from 'node:child_process'
import { openStore, type Store } from '@poolp/plakar'
import { COPIED_KINDS, type CopiedKind } from '../../src/repository/index.js'
import { PLAKAR_ARGS } from '../cli/run-cli.js'

/** How many objects of `kinds` (default: what a copy writes) are at `location` (0 before it exists). */
export async function count(location: string, kinds: readonly CopiedKind[] = COPIED_KINDS): Promise<number> {
  const store = openStore(location)
  try {
    return await countIn(store, kinds)
  } finally {
    await store.close()
  }
}

async function countIn(store: Store, kinds: readonly CopiedKind[] = COPIED_KINDS): Promise<number> {
  let n = 0
  try {
    for (const kind of kinds) for await (const _ of store.list(kind)) n++
  } catch {
    return 0
  }
  return n
}

export interface KillLoop {
  /** The CLI's arguments, and its environment. */
  readonly args: readonly string[]
  readonly env: Record<string, string>
  /** The destination the command writes to: it is killed once this holds more objects. */
  readonly dest: string
  /** True once there is nothing left to do (the loop stops early). */
  readonly done: () => Promise<boolean>
  readonly rounds?: number
  /** Each round lets the command write this many more objects than the last before the kill. */
  readonly step?: number
}

/**
 * Runs the CLI again and again, each time killed with SIGKILL as soon as `dest` holds more
 * objects than before it started (round r: 1 + r * step more): mid-copy, whatever the
 * machine's speed, and later each round. Returns how many runs were killed (a run that
 * finished first was not).
 */
export async function killLooped(loop: KillLoop): Promise<number> {
  // One store for every poll: a poll every 20 ms must not open a connection each time.
  const store = openStore(loop.dest)
  try {
    return await rounds(loop, store)
  } finally {
    await store.close()
  }
}

async function rounds(loop: KillLoop, store: Store): Promise<number> {
  let killed = 0
  for (let round = 0; round < (loop.rounds ?? 4); round++) {
    if (await loop.done()) break
    const before = await countIn(store)
    const child = spawn(process.execPath, [...PLAKAR_ARGS, ...loop.args], {
      env: { PATH: process.env.PATH, ...loop.env },
      stdio: 'ignore',
    })
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
    let running = true
    void exited.then(() => {
      running = false
    })
    for (;;) {
      if (!running) break
      if ((await countIn(store)) > before + round * (loop.step ?? 0)) {
        // Counted only if it was still running: one that just finished was not killed.
        if (running && child.kill('SIGKILL')) killed++
        break
      }
      await new Promise((r) => setTimeout(r, 20))
    }
    await exited
  }
  return killed
}
