/**
 * Running one tool step and measuring it: wall time, CPU time and peak RSS.
 *
 * Peak RSS comes from GNU time (`/usr/bin/time`, Debian package `time`), which reads it from
 * wait4's rusage: the maximum resident set of the process and of every descendant it waited
 * for, so a tool that forks or uses threads is measured whole.
 */
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

export const GNU_TIME = '/usr/bin/time'

export interface Command {
  readonly cmd: string
  readonly args: readonly string[]
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
}

export interface Measurement {
  /** Wall-clock seconds, measured around the child with performance.now(). */
  readonly seconds: number
  readonly userSeconds: number
  readonly systemSeconds: number
  /** Peak resident set size in bytes. */
  readonly maxRss: number
}

export class StepFailed extends Error {
  constructor(
    readonly command: Command,
    readonly status: number | null,
    readonly stderrTail: string,
  ) {
    super(
      `${command.cmd} ${command.args.join(' ')} exited with ${status}: ${stderrTail.trim().split('\n').pop()}`,
    )
  }
}

/**
 * Runs `command` under GNU time (and `nice -n NICE` when not 0), its output going to `logFile`. Rejects with StepFailed on
 * a non-zero exit: a benchmark figure from a failed run would be meaningless.
 */
export async function measure(command: Command, logFile: string, nice = 0): Promise<Measurement> {
  const timeFile = `${logFile}.time`
  const log = fs.openSync(logFile, 'w')
  const started = performance.now()
  const status = await new Promise<number | null>((resolve, reject) => {
    const timed = [GNU_TIME, '-f', '%U %S %M', '-o', timeFile, command.cmd, ...command.args]
    // A priority for every tool alike, so that a busy machine disturbs the comparison less.
    const argv = nice === 0 ? timed : ['nice', '-n', String(nice), ...timed]
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: command.cwd,
      env: { ...process.env, ...command.env },
      stdio: ['ignore', log, log],
    })
    child.on('error', reject)
    child.on('exit', (code) => resolve(code))
  })
  const seconds = (performance.now() - started) / 1000
  fs.closeSync(log)
  if (status !== 0) throw new StepFailed(command, status, tail(logFile))
  const fields = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number)
  const [user = Number.NaN, system = Number.NaN, rssKiB = Number.NaN] = fields
  return { seconds, userSeconds: user, systemSeconds: system, maxRss: rssKiB * 1024 }
}

function tail(file: string): string {
  const text = fs.readFileSync(file, 'utf8')
  return text.slice(-2000)
}

let dropPermitted: boolean | undefined

/**
 * Empties the page cache so that every tool starts each step cold, reading the corpus and
 * its repository from the disk. Returns false (and does nothing) where the kernel refuses.
 */
export function dropCaches(): boolean {
  execFileSync('sync')
  if (dropPermitted === false) return false
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3\n')
    dropPermitted = true
  } catch {
    dropPermitted = false
  }
  return dropPermitted
}

/**
 * Reads every file below `root` once, so that the next step finds it in the page cache: with
 * --warm, each tool then starts from the same warm state instead of the first one paying for
 * the disk.
 */
export function warmTree(root: string): void {
  const buf = Buffer.allocUnsafe(1 << 20)
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(abs)
      else if (entry.isFile()) {
        const fd = fs.openSync(abs, 'r')
        try {
          while (fs.readSync(fd, buf) > 0) {}
        } finally {
          fs.closeSync(fd)
        }
      }
    }
  }
  walk(root)
}

/** Bytes a directory tree occupies as files (apparent sizes, as `du -sb` counts). */
export function treeBytes(root: string): number {
  let total = 0
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(abs)
      else if (entry.isFile()) total += fs.statSync(abs).size
    }
  }
  if (fs.statSync(root).isDirectory()) walk(root)
  else total = fs.statSync(root).size
  return total
}
