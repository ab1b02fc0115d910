import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/**
 * Runs the real `plakar` CLI as a child process, from the sources through tsx (so a stale
 * dist/ never hides a change): node --import tsx packages/plakar/bin/plakar.ts ARGS.
 */
const PKG = fileURLToPath(new URL('../..', import.meta.url))
const TSX = pathToFileURL(
  join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs'),
).href

/**
 * The built CLI (dist/plakar.js, what users run) when it is newer than every source file,
 * else the sources through tsx: never a stale build. `pnpm test` builds first.
 */
function command(): string[] {
  const dist = join(PKG, 'dist/plakar.js')
  const built = statSync(dist, { throwIfNoEntry: false })?.mtimeMs ?? 0
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, d) => {
      const p = join(dir, d.name)
      return Math.max(m, d.isDirectory() ? newest(p) : statSync(p).mtimeMs)
    }, 0)
  if (built > Math.max(newest(join(PKG, 'src')), newest(join(PKG, 'bin')))) return [dist]
  return ['--import', TSX, join(PKG, 'bin/plakar.ts')]
}
const BIN = command()

/** The node arguments that run the CLI (the build, or the sources through tsx). */
export const PLAKAR_ARGS: readonly string[] = BIN

export interface CliResult {
  readonly status: number | null
  readonly stdout: Buffer
  readonly stderr: string
}

export interface CliOptions {
  readonly env?: Record<string, string | undefined>
  readonly cwd?: string
  readonly input?: string | Buffer
  readonly uid?: number
  readonly gid?: number
}

export function plakar(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...BIN, ...args], {
      cwd: opts.cwd ?? process.cwd(),
      env: { PATH: process.env.PATH, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d: Buffer) => err.push(d))
    child.on('error', reject)
    child.on('close', (status) =>
      resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }),
    )
    child.stdin.end(opts.input ?? '')
  })
}

/**
 * The same, on a pseudo-terminal (script(1)). Each answer is typed once the screen shows
 * its prompt, as a person would; returns everything the terminal showed.
 */
export function plakarOnTerminal(
  args: readonly string[],
  answers: readonly { readonly after: string; readonly type: string }[],
  opts: CliOptions = {},
): Promise<{ status: number | null; screen: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  const line = [process.execPath, ...BIN, ...args].map(quote).join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', line, '/dev/null'], {
      cwd: opts.cwd ?? process.cwd(),
      env: { PATH: process.env.PATH, TERM: 'xterm', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let screen = ''
    let next = 0
    let seen = 0
    const onData = (d: Buffer) => {
      screen += d.toString()
      const a = answers[next]
      if (a === undefined) return
      const at = screen.indexOf(a.after, seen)
      if (at < 0) return
      seen = at + a.after.length
      next++
      // A moment for the raw mode to be set after the prompt is written.
      setTimeout(() => child.stdin.write(a.type), 100)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', reject)
    child.on('close', (status) => {
      child.stdin.destroy()
      resolve({ status, screen })
    })
  })
}
