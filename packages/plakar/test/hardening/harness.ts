/**
 * What the hardening tests share: running the real `plakar` CLI as a child process (as a
 * user would, so kill -9 kills a real process), the two backends, and trees to back up.
 *
 * The CLI runs from dist/ when dist/ is at least as new as every source file (as under
 * `pnpm test`, which builds first: a process starts in ~0.1 s), else from the TypeScript
 * sources through tsx, so that a local run never tests stale code.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { digestTree, ensureCorpus } from '../../bench/corpus.js'

export const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const PASSPHRASE = 'correct horse battery staple'

const DIST_ENTRIES = ['dist/plakar.js']
const SOURCE_ENTRIES = ['bin/plakar.ts']

function newestSource(dir: string): number {
  let newest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSource(abs) : fs.statSync(abs).mtimeMs)
  }
  return newest
}

/** node arguments that start the CLI (PLAKAR_TEST_CLI names another entry, e.g. a build elsewhere). */
function cliArgs(): string[] {
  const override = process.env.PLAKAR_TEST_CLI
  if (override) return /\.[cm]?js$/.test(override) ? [override] : ['--import', 'tsx', override]
  const dist = DIST_ENTRIES.map((e) => path.join(PACKAGE, e)).find((e) => fs.existsSync(e))
  if (dist && fs.statSync(dist).mtimeMs >= newestSource(path.join(PACKAGE, 'src'))) return [dist]
  const source = SOURCE_ENTRIES.map((e) => path.join(PACKAGE, e)).find((e) => fs.existsSync(e))
  if (!source)
    throw new Error(`no plakar CLI entry point in ${PACKAGE} (looked for ${SOURCE_ENTRIES.join(', ')})`)
  return ['--import', 'tsx', source]
}

let cachedArgs: string[] | undefined

export interface PlakarEnv {
  /** HOME and XDG_CACHE_HOME for the child, so tests never touch the user's cache. */
  readonly home: string
  readonly passphrase?: string
}

function childEnv(env: PlakarEnv): NodeJS.ProcessEnv {
  // A child killed mid-run (check's and prune's temporary databases) leaves its temporary
  // files in the test's own directory, removed with it, not in the machine's /tmp.
  const tmp = path.join(env.home, 'tmp')
  fs.mkdirSync(tmp, { recursive: true })
  const out: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: env.home,
    XDG_CACHE_HOME: path.join(env.home, '.cache'),
    TMPDIR: tmp,
    LANG: 'C.UTF-8',
  }
  if (env.passphrase !== undefined) out.PLAKAR_PASSPHRASE = env.passphrase
  return out
}

/** Starts `plakar ARGS...`; stdout and stderr are piped. */
export function startPlakar(args: readonly string[], env: PlakarEnv): ChildProcess {
  cachedArgs ??= cliArgs()
  // cwd: the package, where `--import tsx` resolves; every path the tests pass is absolute.
  return spawn(process.execPath, [...cachedArgs, ...args], {
    cwd: PACKAGE,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

export interface Outcome {
  readonly status: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: Buffer
  readonly stderr: string
}

export function finished(child: ChildProcess): Promise<Outcome> {
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout?.on('data', (b: Buffer) => out.push(b))
  child.stderr?.on('data', (b: Buffer) => err.push(b))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (status, signal) =>
      resolve({ status, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }),
    )
  })
}

export function plakar(args: readonly string[], env: PlakarEnv): Promise<Outcome> {
  return finished(startPlakar(args, env))
}

/** Runs plakar and fails the test, showing stderr, unless it exits 0. */
export async function ok(args: readonly string[], env: PlakarEnv): Promise<Outcome> {
  const r = await plakar(args, env)
  if (r.status !== 0) throw new Error(`plakar ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`)
  return r
}

export interface Backend {
  readonly name: 'fs' | 'sqlite'
  /** The repository location for a repository kept in `dir` (which need not exist). */
  location(dir: string): string
}

export const BACKENDS: readonly Backend[] = [
  { name: 'fs', location: (dir) => `fs://${path.join(dir, 'repo')}` },
  { name: 'sqlite', location: (dir) => `sqlite://${path.join(dir, 'repo.db')}` },
]

/** A tree of `scale` x 50k small files of the bench corpus (seeded), under `dir`/tree. */
export function corpusTree(dir: string, seed: number, scale: number): string {
  return path.join(ensureCorpus(dir, seed, scale).root, 'tree')
}

/** UUIDs listed by `plakar ls`, in the order printed. */
export async function snapshots(repo: string, env: PlakarEnv): Promise<string[]> {
  const r = await ok(['on', repo, 'ls'], env)
  return [
    ...r.stdout
      .toString('utf8')
      .matchAll(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g),
  ].map((m) => m[0])
}

/**
 * Restores `snapshot` into a fresh directory `into` and returns, for the first of `sources`
 * found there (pull recreates the absolute path below the target), that source and the
 * digest of what was restored for it.
 */
export async function restoreAndDigest(
  repo: string,
  snapshot: string,
  sources: readonly string[],
  env: PlakarEnv,
  into: string,
): Promise<{ source: string; digest: string }> {
  fs.rmSync(into, { recursive: true, force: true })
  await ok(['on', repo, 'pull', '-path', into, snapshot], env)
  try {
    const source = sources.find((s) => fs.existsSync(path.join(into, s)))
    if (!source) throw new Error(`snapshot ${snapshot} restored none of ${sources.join(', ')} into ${into}`)
    return { source, digest: digestTree(path.join(into, source)).digest }
  } finally {
    fs.rmSync(into, { recursive: true, force: true })
  }
}

export { digestTree }
