/**
 * Memory as the repository grows: the many-small-files dataset of corpus/many.ts at two or
 * more sizes in one run (default 100,000 and 1,000,000 files), each size in a fresh
 * repository per tool:
 *
 *   push 1     the first backup of the tree
 *   push 2     after every 10th file was rewritten
 *   check -fast, check (every blob read) / restic check, restic check --read-data
 *   rm + prune the first snapshot removed, then the space given back
 *
 * with wall time, CPU time and peak RSS (GNU time) per step, and per tool the growth of each
 * step's peak RSS from the smallest size to the largest: what a bounded step keeps flat.
 * The tools alternate (plakar first at the first size, restic first at the next). The tree
 * lives on a tmpfs (/dev/shm by default) so that the disk does not dominate; repositories
 * live under --work.
 *
 *   pnpm bench:scale [--files 100000,1000000] [--tools plakar,restic] [--work DIR]
 *                    [--tree-dir DIR] [--seed 1] [--plakar-backend fs|sqlite] [--plakar-cli FILE]
 *
 * Needs GNU time (apt-get install -y time), restic for its column, and a built plakar.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { parseOrExit, scriptArgs } from './args.js'
import { touchManyFiles, writeManyFiles } from './corpus/many.js'
import { type Command, GNU_TIME, type Measurement, measure, StepFailed, treeBytes } from './measure.js'
import { tableHead } from './report.js'
import { type PlakarBackend, plakar } from './tools/plakar.js'
import { restic } from './tools/restic.js'
import { snapshotId, subcommand } from './tools/steps.js'
import type { Tool, ToolContext } from './tools/tool.js'

const USAGE = `usage: pnpm bench:scale [--files N,N...] [--tools plakar,restic] [--work DIR] [--tree-dir DIR]
                        [--seed N] [--plakar-backend fs|sqlite] [--plakar-cli FILE]`

const STEPS = ['push 1', 'push 2', 'check -fast', 'check', 'rm', 'prune'] as const
type Step = (typeof STEPS)[number]
/** The second push sees every TOUCH_EVERY-th file rewritten. */
const TOUCH_EVERY = 10

interface Options {
  readonly sizes: readonly number[]
  readonly tools: readonly Tool[]
  readonly work: string
  readonly treeDir: string
  readonly seed: number
}

function fail(message: string): never {
  console.error(`bench:scale: ${message}`)
  process.exit(2)
}

function parseOptions(): Options {
  const { values } = parseOrExit('bench:scale', () =>
    parseArgs({
      args: scriptArgs(),
      options: {
        files: { type: 'string', default: '100000,1000000' },
        tools: { type: 'string', default: 'plakar,restic' },
        work: {
          type: 'string',
          default: process.env.PLAKAR_BENCH_DIR ?? path.join(os.tmpdir(), 'plakar-bench'),
        },
        'tree-dir': { type: 'string', default: '/dev/shm' },
        seed: { type: 'string', default: '1' },
        'plakar-backend': { type: 'string', default: 'fs' },
        'plakar-cli': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }),
  )
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const sizes = values.files.split(',').map(Number)
  if (sizes.some((n) => !Number.isInteger(n) || n < 1000 || n > 5_000_000))
    fail('--files takes integers from 1000 to 5000000')
  const seed = Number(values.seed)
  if (!Number.isInteger(seed)) fail('--seed must be an integer')
  const backend = values['plakar-backend']
  if (backend !== 'fs' && backend !== 'sqlite') fail('--plakar-backend must be fs or sqlite')
  const cli = values['plakar-cli']
  const all = [
    plakar({ backend: backend as PlakarBackend, cli: cli === undefined ? undefined : path.resolve(cli) }),
    restic,
  ]
  const tools: Tool[] = []
  for (const name of values.tools.split(',')) {
    const tool = all.find((t) => t.name === name) ?? fail(`unknown tool ${name}`)
    const version = tool.version()
    if (!version) fail(`${tool.name} is not available (${tool.installHint})`)
    console.error(`${tool.name}: ${version.split('\n')[0]}; ${tool.settings}`)
    tools.push(tool)
  }
  if (!fs.existsSync(GNU_TIME)) fail(`${GNU_TIME} is missing (apt-get install -y time): it measures peak RSS`)
  return {
    sizes: [...sizes].sort((a, b) => a - b),
    tools,
    work: path.resolve(values.work),
    treeDir: path.resolve(values['tree-dir']),
    seed,
  }
}

/** The command of `step` for a tool; `first` is the id of the first snapshot (for rm). */
function command(tool: Tool, ctx: ToolContext, step: Step, tree: string, first: string): Command {
  const isPlakar = tool.name === 'plakar'
  switch (step) {
    case 'push 1':
      return tool.backup(ctx, tree, 1)
    case 'push 2':
      return tool.backup(ctx, tree, 2)
    case 'check -fast':
      return isPlakar ? subcommand(tool, ctx, 'check', '-fast') : subcommand(tool, ctx, 'check')
    case 'check':
      return isPlakar ? subcommand(tool, ctx, 'check') : subcommand(tool, ctx, 'check', '--read-data')
    case 'rm':
      return isPlakar ? subcommand(tool, ctx, 'rm', first) : subcommand(tool, ctx, 'forget', first)
    case 'prune':
      return subcommand(tool, ctx, 'prune')
  }
}

interface Result {
  readonly tool: string
  readonly files: number
  readonly steps: Partial<Record<Step, Measurement>>
  repoBytes?: number
  error?: string
}

async function runSize(opts: Options, files: number, index: number, results: Result[]): Promise<void> {
  const tree = path.join(opts.treeDir, `plakar-bench-many-${files}`)
  fs.rmSync(tree, { recursive: true, force: true })
  const started = performance.now()
  const bytes = writeManyFiles(tree, files, opts.seed)
  console.error(
    `${files} files: ${(bytes / 1e6).toFixed(0)} MB written at ${tree} in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  )
  const tools = index % 2 === 0 ? opts.tools : [...opts.tools].reverse()
  const base = path.join(opts.work, 'scale')
  const logs = path.join(base, 'logs', String(files))
  fs.rmSync(logs, { recursive: true, force: true })
  fs.mkdirSync(logs, { recursive: true })
  const state = new Map<Tool, { ctx: ToolContext; result: Result; first: string }>()
  for (const tool of tools) {
    const dir = path.join(base, 'runs', tool.name)
    fs.rmSync(dir, { recursive: true, force: true })
    const ctx = { repo: path.join(dir, 'repo'), home: path.join(dir, 'home'), passphrase: 'bench-passphrase' }
    for (const d of [ctx.repo, ctx.home]) fs.mkdirSync(d, { recursive: true })
    const result: Result = { tool: tool.name, files, steps: {} }
    results.push(result)
    state.set(tool, { ctx, result, first: '' })
  }
  const exec = async (tool: Tool, label: string, cmd: Command): Promise<Measurement | undefined> => {
    const s = state.get(tool)!
    if (s.result.error) return undefined
    const log = path.join(logs, `${tool.name}-${label.replace(/[^a-z0-9]+/g, '-')}.log`)
    try {
      const m = await measure(cmd, log)
      if (label === 'push 1') s.first = snapshotId(tool, log)
      return m
    } catch (err) {
      s.result.error = `${label}: ${err instanceof StepFailed ? err.message : String(err)}`
      console.error(`${files} files ${tool.name} FAILED ${s.result.error} (log: ${log})`)
      return undefined
    }
  }
  for (const tool of tools) await exec(tool, 'init', tool.init(state.get(tool)!.ctx))
  for (const step of STEPS) {
    if (step === 'push 2') touchManyFiles(tree, files, opts.seed, TOUCH_EVERY, 1)
    for (const tool of tools) {
      const s = state.get(tool)!
      const m = await exec(tool, step, command(tool, s.ctx, step, tree, s.first))
      if (!m) continue
      s.result.steps[step] = m
      console.error(
        `${files} files ${tool.name} ${step}: ${m.seconds.toFixed(1)} s, CPU ${(m.userSeconds + m.systemSeconds).toFixed(1)} s, ` +
          `RSS ${(m.maxRss / 1e6).toFixed(0)} MB`,
      )
      if (step === 'push 2' && !s.result.error) s.result.repoBytes = treeBytes(s.ctx.repo)
    }
  }
  for (const tool of tools) fs.rmSync(path.join(base, 'runs', tool.name), { recursive: true, force: true })
  fs.rmSync(tree, { recursive: true, force: true })
}

const fmt = (v: number | undefined, digits: number) =>
  v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : '-'

function report(opts: Options, results: readonly Result[]): string {
  const find = (tool: string, files: number) => results.find((r) => r.tool === tool && r.files === files)
  const small = opts.sizes[0]!
  const large = opts.sizes[opts.sizes.length - 1]!
  const header = ['step']
  for (const tool of opts.tools)
    for (const n of opts.sizes) header.push(`${tool.name} ${n.toLocaleString('en')}: s`, 'RSS MB')
  for (const tool of opts.tools) header.push(`${tool.name} RSS growth`)
  const lines = tableHead(header)
  for (const step of STEPS) {
    const cells: string[] = [step]
    for (const tool of opts.tools)
      for (const n of opts.sizes) {
        const m = find(tool.name, n)?.steps[step]
        cells.push(fmt(m?.seconds, 1), fmt(m === undefined ? undefined : m.maxRss / 1e6, 0))
      }
    for (const tool of opts.tools) {
      const a = find(tool.name, small)?.steps[step]
      const b = find(tool.name, large)?.steps[step]
      cells.push(a && b ? `${(b.maxRss / a.maxRss).toFixed(2)}x` : '-')
    }
    lines.push(`| ${cells.join(' | ')} |`)
  }
  const repo: string[] = ['repository after push 2, MB']
  for (const tool of opts.tools)
    for (const n of opts.sizes) repo.push(fmt((find(tool.name, n)?.repoBytes ?? Number.NaN) / 1e6, 0), '')
  for (const _ of opts.tools) repo.push('')
  lines.push(`| ${repo.join(' | ')} |`)
  for (const f of results.filter((r) => r.error)) lines.push('', `- ${f.tool}, ${f.files} files: ${f.error}`)
  return lines.join('\n')
}

async function main(): Promise<void> {
  const opts = parseOptions()
  fs.mkdirSync(opts.work, { recursive: true })
  const started = performance.now()
  const loadBefore = os.loadavg()[0]!
  const results: Result[] = []
  for (const [i, files] of opts.sizes.entries()) await runSize(opts, files, i, results)
  const lines = [
    `# plakar vs restic at scale: ${opts.sizes.map((n) => n.toLocaleString('en')).join(' and ')} small files`,
    '',
    `- ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`,
    ...opts.tools.map((t) => `- ${t.name}: ${t.version()?.split('\n')[0]}; ${t.settings}`),
    `- dataset: directories of 1,000 files of 20-400 bytes of distinct text (bench/corpus/many.ts, seed ${opts.seed}) on ${opts.treeDir}; push 2 after every ${TOUCH_EVERY}th file was rewritten; rm removes the first snapshot`,
    '- check -fast = plakar check -fast / restic check; check = plakar check / restic check --read-data; rm = plakar rm / restic forget',
    '- RSS = peak resident set (GNU time); growth = peak RSS at the largest size / at the smallest',
    `- load average (1 min) at start ${loadBefore.toFixed(1)}, at end ${os.loadavg()[0]!.toFixed(1)}; ${((performance.now() - started) / 1000).toFixed(0)} s in all`,
    '',
    report(opts, results),
  ]
  const text = lines.join('\n') + '\n'
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const out = path.join(opts.work, `scale-report-${stamp}.md`)
  fs.writeFileSync(out, text)
  console.log(text)
  console.error(`report saved in ${out}; logs in ${path.join(opts.work, 'scale', 'logs')}`)
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err)
  process.exit(1)
})
