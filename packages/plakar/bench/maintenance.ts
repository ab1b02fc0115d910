/**
 * plakar's maintenance commands against restic's, side by side in one run, on the tree/ part
 * of corpus.ts's corpus. Each run gives each tool a fresh repository and, untimed, ten backups
 * of the tree, which changes between backups: the corpus alternates between its original and
 * modified variants, and a directory of fresh random bytes (new names, new bytes) is backed up
 * beside it, so that every backup adds data. Then, timed:
 *
 *   check:  plakar check (no flags: every blob read)  vs  restic check --read-data
 *   prune:  plakar rm (5 oldest) + plakar prune       vs  restic forget (5 oldest) + restic prune
 *
 * with wall time, CPU time, peak RSS (GNU time) and the repository's size before and after.
 * The tools alternate: plakar first in odd runs, restic first in even ones. Medians over runs,
 * plakar as ratios to restic next to the targets. After the prune, each repository is checked
 * again (plakar check -fast, restic check; untimed) and must hold the 5 newest snapshots.
 *
 *   pnpm bench:maintenance [--scale 1] [--runs 3] [--work DIR] [--seed 1] [--warm] [--nice N]
 *                          [--plakar-backend fs|sqlite] [--plakar-cpu N] [--plakar-cli FILE]
 *
 * It accepts every flag of compare.ts, so that `pnpm bench` (bench/all.ts) can pass the same
 * flags to both; the compare-only ones (--tools, --datasets, --borg-compression,
 * --plakar-cpu-prof) are ignored, and it says so. Both prune with their defaults: restic's
 * --max-unused 5% and plakar's -max-unused 5.
 *
 * Needs restic and GNU time (apt-get install -y restic time), root for dropping the page cache,
 * and a built plakar (pnpm --filter @poolp/plakar build).
 */
import { createCipheriv, createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { commonOptions, parseOrExit, RUN_OPTIONS, scriptArgs } from './args.js'
import { benchCorpus, type Corpus } from './corpus.js'
import {
  type Command,
  dropCaches,
  GNU_TIME,
  type Measurement,
  measure,
  StepFailed,
  treeBytes,
  warmTree,
} from './measure.js'
import { median, ratioCells, type Target, tableHead } from './report.js'
import { plakar } from './tools/plakar.js'
import { restic } from './tools/restic.js'
import { backupOf, countSnapshots, snapshotId, subcommand } from './tools/steps.js'
import type { Tool, ToolContext } from './tools/tool.js'

const USAGE = `usage: pnpm bench:maintenance [--scale S] [--runs N] [--work DIR] [--seed N] [--warm] [--nice N]
                              [--plakar-backend fs|sqlite] [--plakar-cpu N] [--plakar-cli FILE]
(compare.ts's --tools, --datasets, --borg-compression and --plakar-cpu-prof are accepted and ignored)`

const BACKUPS = 10
const REMOVED = 5
/** Fresh random bytes per backup, as a share of the tree's bytes, split over four files. */
const FRESH_SHARE = 0.05
const FRESH_SPLIT = [0.5, 0.3, 0.15, 0.05]

interface Options {
  readonly scale: number
  readonly runs: number
  readonly seed: number
  readonly work: string
  readonly warm: boolean
  readonly nice: number
  readonly plakar: Tool
}

function fail(message: string): never {
  console.error(`bench:maintenance: ${message}`)
  process.exit(2)
}

function parseOptions(): Options {
  const { values } = parseOrExit('bench:maintenance', () =>
    parseArgs({
      args: scriptArgs(),
      options: {
        ...RUN_OPTIONS,
        'plakar-backend': { type: 'string', default: 'fs' },
        'plakar-cpu': { type: 'string' },
        'plakar-cli': { type: 'string' },
        warm: { type: 'boolean', default: false },
        nice: { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h', default: false },
        // compare.ts's own: accepted so that one set of flags serves both scripts.
        tools: { type: 'string' },
        datasets: { type: 'string' },
        'borg-compression': { type: 'string' },
        'plakar-cpu-prof': { type: 'string' },
      },
    }),
  )
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const ignored = ['tools', 'datasets', 'borg-compression', 'plakar-cpu-prof'] as const
  for (const name of ignored)
    if (values[name] !== undefined)
      console.error(`bench:maintenance: --${name} is compare.ts's, ignored here`)
  const { scale, runs, seed, nice, backend, cpu } = commonOptions(values, fail)
  const cli = values['plakar-cli']
  const p = plakar({
    backend,
    cpus: cpu,
    cli: cli === undefined ? undefined : path.resolve(cli),
  })
  for (const tool of [p, restic]) {
    const version = tool.version()
    if (!version) fail(`${tool.name} is not available (${tool.installHint})`)
    console.error(`${tool.name}: ${version.split('\n')[0]}; ${tool.settings}`)
  }
  if (!fs.existsSync(GNU_TIME)) fail(`${GNU_TIME} is missing (apt-get install -y time): it measures peak RSS`)
  return { scale, runs, seed, work: path.resolve(values.work), warm: values.warm, nice, plakar: p }
}

/**
 * Replaces the fresh directory's content with backup n's: four files of random bytes, the same
 * for every tool and every run (AES-256-CTR of zeros under a key derived from seed and n).
 */
function writeFresh(dir: string, seed: number, n: number, budget: number): number {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  let total = 0
  FRESH_SPLIT.forEach((share, i) => {
    const size = Math.max(4096, Math.round(budget * share))
    const key = createHash('sha256').update(`plakar-bench-maintenance/${seed}/${n}/${i}`).digest()
    const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
    const bytes = Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()])
    fs.writeFileSync(path.join(dir, `fresh-${n}-${i}.bin`), bytes)
    total += size
  })
  return total
}

const STEPS = ['check', 'rm', 'prune', 'list'] as const
type Step = (typeof STEPS)[number]

interface RunResult {
  readonly tool: string
  readonly run: number
  /** Position of the tool in this run's order (1 = first). */
  readonly order: number
  setupSeconds: number
  readonly steps: Partial<Record<Step, Measurement>>
  repoBefore?: number
  repoAfter?: number
  /** The last line of plakar's / restic's check and prune output, for the report. */
  readonly summaries: Partial<Record<Step | 'verify', string>>
  error?: string
}

function lastLine(file: string): string {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n')
  return lines[lines.length - 1]?.trim() ?? ''
}

async function runOnce(opts: Options, corpus: Corpus, runIndex: number, results: RunResult[]): Promise<void> {
  const run = runIndex + 1
  const tree = path.join(corpus.root, 'tree')
  // plakar first in odd runs, restic first in even runs.
  const tools = run % 2 === 1 ? [opts.plakar, restic] : [restic, opts.plakar]
  const base = path.join(opts.work, 'maintenance')
  const fresh = path.join(base, 'fresh')
  const logs = path.join(base, 'logs', `run${run}`)
  fs.rmSync(logs, { recursive: true, force: true })
  fs.mkdirSync(logs, { recursive: true })
  const state = new Map<Tool, { ctx: ToolContext; result: RunResult; ids: string[] }>()
  tools.forEach((tool, i) => {
    const dir = path.join(base, 'runs', tool.name)
    fs.rmSync(dir, { recursive: true, force: true })
    const ctx = { repo: path.join(dir, 'repo'), home: path.join(dir, 'home'), passphrase: 'bench-passphrase' }
    for (const d of [ctx.repo, ctx.home]) fs.mkdirSync(d, { recursive: true })
    const result: RunResult = {
      tool: tool.name,
      run,
      order: i + 1,
      setupSeconds: 0,
      steps: {},
      summaries: {},
    }
    results.push(result)
    state.set(tool, { ctx, result, ids: [] })
  })

  /** Runs one command of one tool; a failure marks the tool's run and skips its later commands. */
  async function exec(tool: Tool, label: string, command: Command, timed: boolean) {
    const s = state.get(tool)!
    if (s.result.error) return undefined
    if (timed) {
      if (opts.warm) warmTree(s.ctx.repo)
      else dropCaches()
    }
    const log = path.join(logs, `${tool.name}-${label}.log`)
    try {
      return { m: await measure(command, log, opts.nice), log }
    } catch (err) {
      s.result.error = `${label}: ${err instanceof StepFailed ? err.message : String(err)}`
      console.error(`run ${run} ${tool.name} FAILED ${s.result.error} (log: ${log})`)
      return undefined
    }
  }

  // Setup, untimed: ten backups, the corpus changing between them.
  for (const tool of tools) await exec(tool, 'init', tool.init(state.get(tool)!.ctx), false)
  const budget = FRESH_SHARE * treeBytes(tree)
  for (let n = 1; n <= BACKUPS; n++) {
    corpus.setVariant(n % 2 === 1 ? 'original' : 'modified')
    writeFresh(fresh, opts.seed, n, budget)
    for (const tool of tools) {
      const s = state.get(tool)!
      const r = await exec(tool, `backup${n}`, backupOf(tool, s.ctx, tree, n, fresh), false)
      if (!r) continue
      s.result.setupSeconds += r.m.seconds
      try {
        s.ids.push(snapshotId(tool, r.log))
      } catch (err) {
        s.result.error = `backup${n}: ${(err as Error).message}`
      }
    }
  }
  for (const tool of tools) {
    const s = state.get(tool)!
    if (!s.result.error) s.result.repoBefore = treeBytes(s.ctx.repo)
    console.error(
      `run ${run} ${tool.name} setup: ${BACKUPS} backups in ${s.result.setupSeconds.toFixed(1)} s, ` +
        `repository ${((s.result.repoBefore ?? Number.NaN) / 1e6).toFixed(1)} MB`,
    )
  }

  const record = (tool: Tool, step: Step, r: { m: Measurement; log: string } | undefined) => {
    if (!r) return
    const s = state.get(tool)!
    s.result.steps[step] = r.m
    s.result.summaries[step] = lastLine(r.log)
    console.error(
      `run ${run} ${tool.name} ${step}: ${r.m.seconds.toFixed(2)} s, user ${r.m.userSeconds.toFixed(1)} s, ` +
        `sys ${r.m.systemSeconds.toFixed(1)} s, RSS ${(r.m.maxRss / 1e6).toFixed(0)} MB`,
    )
  }

  // check, full read.
  for (const tool of tools) {
    const ctx = state.get(tool)!.ctx
    const command =
      tool.name === 'plakar' ? subcommand(tool, ctx, 'check') : subcommand(tool, ctx, 'check', '--read-data')
    record(tool, 'check', await exec(tool, 'check', command, true))
  }

  // The 5 oldest snapshots go, then the data only they used.
  for (const tool of tools) {
    const { ctx, ids } = state.get(tool)!
    const gone = ids.slice(0, REMOVED)
    const rm =
      tool.name === 'plakar' ? subcommand(tool, ctx, 'rm', ...gone) : subcommand(tool, ctx, 'forget', ...gone)
    record(tool, 'rm', await exec(tool, 'rm', rm, true))
    record(tool, 'prune', await exec(tool, 'prune', subcommand(tool, ctx, 'prune'), true))
  }

  // Untimed: the repository after prune is whole and holds the 5 newest snapshots.
  for (const tool of tools) {
    const s = state.get(tool)!
    if (s.result.error) continue
    s.result.repoAfter = treeBytes(s.ctx.repo)
    const verify =
      tool.name === 'plakar' ? subcommand(tool, s.ctx, 'check', '-fast') : subcommand(tool, s.ctx, 'check')
    const v = await exec(tool, 'verify', verify, false)
    if (v) s.result.summaries.verify = lastLine(v.log)
    const list =
      tool.name === 'plakar' ? subcommand(tool, s.ctx, 'ls') : subcommand(tool, s.ctx, 'snapshots', '--json')
    const l = await exec(tool, 'list', list, false)
    if (l) {
      s.result.steps.list = l.m
      const count = countSnapshots(tool, l.log)
      if (count !== BACKUPS - REMOVED) {
        s.result.error = `after prune the repository lists ${count} snapshots, not ${BACKUPS - REMOVED}`
        console.error(`run ${run} ${tool.name} FAILED ${s.result.error}`)
      }
    }
    console.error(
      `run ${run} ${tool.name} after prune: repository ${(s.result.repoAfter / 1e6).toFixed(1)} MB; ` +
        `${s.result.summaries.verify ?? '(verify failed)'}`,
    )
  }
  for (const tool of tools) fs.rmSync(path.join(base, 'runs', tool.name), { recursive: true, force: true })
  fs.rmSync(fresh, { recursive: true, force: true })
}

interface Row {
  readonly label: string
  /** One tool's figure in one run (NaN when missing). */
  readonly value: (r: RunResult) => number
  readonly digits: number
  readonly target?: Target
}

const MB = 1e6
const seconds =
  (...steps: Step[]) =>
  (r: RunResult) =>
    steps.every((s) => r.steps[s]) ? steps.reduce((t, s) => t + r.steps[s]!.seconds, 0) : Number.NaN
const cpu =
  (...steps: Step[]) =>
  (r: RunResult) =>
    steps.every((s) => r.steps[s])
      ? steps.reduce((t, s) => t + r.steps[s]!.userSeconds + r.steps[s]!.systemSeconds, 0)
      : Number.NaN
const rss =
  (...steps: Step[]) =>
  (r: RunResult) =>
    steps.every((s) => r.steps[s]) ? Math.max(...steps.map((s) => r.steps[s]!.maxRss)) / MB : Number.NaN

const ROWS: readonly Row[] = [
  { label: `setup: ${BACKUPS} backups, s (untimed)`, value: (r) => r.setupSeconds, digits: 1 },
  { label: 'repository before, MB', value: (r) => (r.repoBefore ?? Number.NaN) / MB, digits: 1 },
  {
    label: 'check full, MB/s (repository / time)',
    value: (r) => (r.repoBefore ?? Number.NaN) / MB / seconds('check')(r),
    digits: 1,
    target: { ratio: 1.5, higherIsBetter: true },
  },
  { label: 'check full, s', value: seconds('check'), digits: 2 },
  { label: 'check full, CPU s (user+sys)', value: cpu('check'), digits: 1 },
  {
    label: 'check full, peak RSS MB',
    value: rss('check'),
    digits: 0,
    target: { ratio: 1, higherIsBetter: false },
  },
  { label: 'rm / forget, s', value: seconds('rm'), digits: 2 },
  { label: 'prune alone, s', value: seconds('prune'), digits: 2 },
  {
    label: 'rm + prune, s',
    value: seconds('rm', 'prune'),
    digits: 2,
    target: { ratio: 0.5, higherIsBetter: false },
  },
  { label: 'rm + prune, CPU s', value: cpu('rm', 'prune'), digits: 1 },
  {
    label: 'rm + prune, peak RSS MB',
    value: rss('rm', 'prune'),
    digits: 0,
    target: { ratio: 1, higherIsBetter: false },
  },
  {
    label: 'list snapshots, peak RSS MB (the process floor)',
    value: rss('list'),
    digits: 0,
  },
  {
    label: 'repository after prune, MB',
    value: (r) => (r.repoAfter ?? Number.NaN) / MB,
    digits: 1,
    target: { ratio: 1, higherIsBetter: false },
  },
  {
    label: 'freed by prune, MB',
    value: (r) => ((r.repoBefore ?? Number.NaN) - (r.repoAfter ?? Number.NaN)) / MB,
    digits: 1,
  },
]

const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-')

/** Medians per tool, plakar / restic and the target, as report.ts's table() lays them out. */
function mediansTable(results: readonly RunResult[]): string {
  const ok = (tool: string) => results.filter((r) => r.tool === tool && !r.error)
  const header = ['', ...['plakar', 'restic'].map((t) => `${t} (${ok(t).length} runs)`)]
  header.push('plakar / restic', 'target', 'met')
  const lines = tableHead(header)
  for (const row of ROWS) {
    const [p, r] = ['plakar', 'restic'].map((t) => median(ok(t).map(row.value).filter(Number.isFinite)))
    lines.push(
      `| ${[row.label, fmt(p!, row.digits), fmt(r!, row.digits), ...ratioCells(p! / r!, row.target)].join(' | ')} |`,
    )
  }
  for (const f of results.filter((r) => r.error)) lines.push('', `- ${f.tool}, run ${f.run}: ${f.error}`)
  return lines.join('\n')
}

/** Every run's figures, for the spread: one column per (run, tool), the first tool of the run first. */
function perRunTable(results: readonly RunResult[]): string {
  const cols = [...results].sort((a, b) => a.run - b.run || a.order - b.order)
  const header = ['', ...cols.map((r) => `run ${r.run} ${r.tool}${r.error ? ' (failed)' : ''}`)]
  const lines = tableHead(header)
  for (const row of ROWS)
    lines.push(`| ${[row.label, ...cols.map((r) => fmt(row.value(r), row.digits))].join(' | ')} |`)
  return lines.join('\n')
}

async function main(): Promise<void> {
  const opts = parseOptions()
  fs.mkdirSync(opts.work, { recursive: true })
  const started = performance.now()
  const corpus = benchCorpus(opts.work, opts.seed, opts.scale)
  const tree = path.join(corpus.root, 'tree')
  const treeSize = treeBytes(tree)
  const cachesDropped = !opts.warm && dropCaches()
  const loadBefore = os.loadavg()[0]!
  const results: RunResult[] = []
  try {
    for (let r = 0; r < opts.runs; r++) await runOnce(opts, corpus, r, results)
  } finally {
    corpus.setVariant('original')
  }
  const elapsed = (performance.now() - started) / 1000

  const lines = [
    `# plakar vs restic, maintenance: seed ${opts.seed}, scale ${opts.scale}, median of ${opts.runs} runs`,
    '',
    `- ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`,
    ...[opts.plakar, restic].map((t) => `- ${t.name}: ${t.version()?.split('\n')[0]}; ${t.settings}`),
    `- corpus tree/: ${(treeSize / MB).toFixed(1)} MB; ${BACKUPS} backups per tool and run, alternating the original and modified variants, each with ${FRESH_SPLIT.length} files of fresh random bytes (${((FRESH_SHARE * treeSize) / MB).toFixed(1)} MB) beside the tree`,
    `- check: plakar check (every blob read) vs restic check --read-data; throughput = the tool's repository bytes / wall time`,
    `- prune: the ${REMOVED} oldest snapshots removed (plakar rm ID... / restic forget ID...), then plakar prune / restic prune with their defaults (max unused 5%); time = sum of the two, peak RSS = max of the two`,
    `- after prune (untimed): plakar check -fast / restic check, and ${BACKUPS - REMOVED} snapshots listed`,
    `- order: plakar first in odd runs, restic first in even runs; each tool in a fresh repository every run`,
    `- page cache: ${opts.warm ? 'warm (--warm): the repository read just before every timed step' : cachesDropped ? 'dropped before every timed step' : 'NOT dropped (not permitted here): later steps may read from a warm cache'}; nice ${opts.nice}`,
    `- load average (1 min) at start ${loadBefore.toFixed(1)}, at end ${os.loadavg()[0]!.toFixed(1)}; ${elapsed.toFixed(0)} s in all`,
    '- MB = 10^6 bytes; repository size = apparent bytes of its files',
    '',
    '## Medians',
    '',
    mediansTable(results),
    '',
    '## Every run',
    '',
    perRunTable(results),
    '',
    '## Last line of each output (last run)',
    '',
    ...results
      .filter((r) => r.run === opts.runs)
      .flatMap((r) => Object.entries(r.summaries).map(([step, line]) => `- ${r.tool} ${step}: \`${line}\``)),
  ]
  const report = lines.join('\n') + '\n'
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const out = path.join(opts.work, `maintenance-report-${stamp}.md`)
  fs.writeFileSync(out, report)
  fs.writeFileSync(
    path.join(opts.work, `maintenance-results-${stamp}.json`),
    JSON.stringify({ opts: { ...opts, plakar: opts.plakar.settings }, results }, null, 2),
  )
  console.log(report)
  console.error(`report saved in ${out}; logs in ${path.join(opts.work, 'maintenance', 'logs')}`)
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err)
  process.exit(1)
})
