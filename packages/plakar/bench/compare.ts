/**
 * plakar against restic and borg, side by side in one run, on the corpus of corpus.ts:
 * first backup, no-change backup, backup of the modified variant, full restore (into a RAM
 * filesystem, so that the disk's file-creation cost does not hide the tools' own), repository
 * size and peak RSS; medians over several runs, plakar as ratios to restic.
 *
 *   pnpm bench [--scale 1] [--runs 3] [--tools restic,borg,plakar] [--datasets tree,big]
 *              [--work DIR] [--seed 1] [--borg-compression zstd,3] [--plakar-backend fs|sqlite]
 *              [--plakar-cpu N] [--plakar-cpu-prof DIR] [--plakar-cli FILE] [--warm] [--nice N]
 *
 * Needs restic, borg and GNU time (apt-get install -y restic borgbackup time), root for
 * dropping the page cache and mounting the tmpfs (it falls back to /dev/shm and says so),
 * and a built plakar (pnpm --filter @poolp/plakar build).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { commonOptions, parseOrExit, RUN_OPTIONS } from './args.js'
import { benchCorpus, type Corpus, digestTree } from './corpus.js'
import { type Command, dropCaches, GNU_TIME, measure, StepFailed, treeBytes, warmTree } from './measure.js'
import { RamDisk } from './ramdisk.js'
import { type DatasetInfo, type Phase, type RunResult, table } from './report.js'
import { borg } from './tools/borg.js'
import { plakar } from './tools/plakar.js'
import { restic } from './tools/restic.js'
import type { Tool, ToolContext } from './tools/tool.js'

const USAGE = `usage: pnpm bench [--scale S] [--runs N] [--tools restic,borg,plakar] [--datasets tree,big]
                  [--work DIR] [--seed N] [--borg-compression SPEC] [--plakar-backend fs|sqlite]
                  [--plakar-cpu N] [--plakar-cpu-prof DIR] [--plakar-cli FILE] [--warm] [--nice N]`

interface Options {
  readonly scale: number
  readonly runs: number
  readonly seed: number
  readonly tools: readonly Tool[]
  readonly datasets: readonly string[]
  readonly work: string
  readonly warm: boolean
  readonly nice: number
}

function fail(message: string): never {
  console.error(`bench: ${message}`)
  process.exit(2)
}

function parseOptions(): Options {
  const { values } = parseOrExit('bench', () =>
    parseArgs({
      options: {
        ...RUN_OPTIONS,
        tools: { type: 'string' },
        datasets: { type: 'string', default: 'tree,big' },
        'borg-compression': { type: 'string', default: 'zstd,3' },
        'plakar-backend': { type: 'string', default: 'fs' },
        'plakar-cpu': { type: 'string' },
        'plakar-cpu-prof': { type: 'string' },
        'plakar-cli': { type: 'string' },
        warm: { type: 'boolean', default: false },
        nice: { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }),
  )
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const { scale, runs, seed, nice, backend, cpu } = commonOptions(values, fail)
  const datasets = values.datasets.split(',')
  if (datasets.some((d) => d !== 'tree' && d !== 'big')) fail('--datasets takes tree and/or big')

  const prof = values['plakar-cpu-prof']
  const cli = values['plakar-cli']
  const all = [
    restic,
    borg(values['borg-compression']),
    plakar({
      backend,
      cpus: cpu,
      cpuProfileDir: prof === undefined ? undefined : path.resolve(prof),
      cli: cli === undefined ? undefined : path.resolve(cli),
    }),
  ]
  const asked = values.tools?.split(',')
  for (const name of asked ?? []) if (!all.some((t) => t.name === name)) fail(`unknown tool ${name}`)
  const tools: Tool[] = []
  for (const tool of all.filter((t) => !asked || asked.includes(t.name))) {
    const version = tool.version()
    if (version) {
      console.error(`${tool.name}: ${version.split('\n')[0]}; ${tool.settings}`)
      tools.push(tool)
    } else if (asked) {
      fail(`${tool.name} is not available (${tool.installHint})`)
    } else {
      console.error(`${tool.name}: not available, skipped (${tool.installHint})`)
    }
  }
  if (tools.length === 0) fail('no tool to run')
  if (!fs.existsSync(GNU_TIME)) fail(`${GNU_TIME} is missing (apt-get install -y time): it measures peak RSS`)
  return { scale, runs, seed, tools, datasets, work: path.resolve(values.work), warm: values.warm, nice }
}

interface DatasetRun {
  readonly info: DatasetInfo
  readonly source: string
  readonly expected: string
}

async function runDataset(
  opts: Options,
  corpus: Corpus,
  name: string,
  runIndex: number,
  ramdisk: RamDisk,
  results: RunResult[],
): Promise<DatasetRun> {
  const source = path.join(corpus.root, name)
  corpus.setVariant('original')
  const originalBytes = treeBytes(source)
  const files = digestTree(source).files
  // Rotate the order each run so that no tool always runs first (or last) in a phase.
  const tools = opts.tools.map((_, i) => opts.tools[(i + runIndex) % opts.tools.length]!)
  const state = new Map<Tool, { ctx: ToolContext; result: RunResult; logs: string }>()
  for (const tool of tools) {
    const base = path.join(opts.work, 'runs', tool.name)
    fs.rmSync(base, { recursive: true, force: true })
    const ctx = {
      repo: path.join(base, 'repo'),
      home: path.join(base, 'home'),
      passphrase: 'bench-passphrase',
    }
    const logs = path.join(opts.work, 'logs', `run${runIndex + 1}`, name)
    for (const dir of [ctx.repo, ctx.home, logs]) fs.mkdirSync(dir, { recursive: true })
    const result: RunResult = { dataset: name, tool: tool.name, run: runIndex + 1, phases: {} }
    results.push(result)
    state.set(tool, { ctx, result, logs })
    await step(tool, 'init', tool.init(ctx))
  }

  /** Runs one step of one tool; a failure marks that tool's run and skips its later steps. */
  async function step(tool: Tool, label: Phase | 'init', command: Command): Promise<void> {
    const s = state.get(tool)!
    if (s.result.error) return
    if (opts.warm) {
      // The same warm state for every tool: its repository and the source, read just before.
      warmTree(s.ctx.repo)
      warmTree(source)
    } else dropCaches()
    try {
      const m = await measure(command, path.join(s.logs, `${tool.name}-${label}.log`), opts.nice)
      if (label === 'init') return
      s.result.phases[label] = m
      console.error(
        `run ${runIndex + 1} ${name} ${tool.name} ${label}: ${m.seconds.toFixed(2)} s, ` +
          `user ${m.userSeconds.toFixed(1)} s, sys ${m.systemSeconds.toFixed(1)} s, RSS ${(m.maxRss / 1e6).toFixed(0)} MB`,
      )
    } catch (err) {
      s.result.error = `${label}: ${err instanceof StepFailed ? err.message : String(err)}`
      console.error(`run ${runIndex + 1} ${name} ${tool.name} FAILED ${s.result.error}`)
    }
  }
  const phase = async (label: Phase, n: number) => {
    for (const tool of tools) await step(tool, label, tool.backup(state.get(tool)!.ctx, source, n))
  }

  await phase('first', 1)
  await phase('nochange', 2)
  corpus.setVariant('modified')
  const expected = digestTree(source)
  await phase('modified', 3)
  for (const tool of tools) {
    const { ctx, result } = state.get(tool)!
    if (!result.error) result.repoBytes = treeBytes(ctx.repo)
    const target = ramdisk.fresh(tool.name)
    await step(tool, 'restore', tool.restore(ctx, target, 3))
    if (!result.error) {
      const restored = findRestored(target, source)
      const got = restored ? digestTree(restored) : undefined
      if (got?.digest !== expected.digest) {
        result.error = `restore differs from the source (${got ? `${got.files} files, ${got.bytes} bytes` : 'tree not found'})`
        console.error(`run ${runIndex + 1} ${name} ${tool.name} FAILED ${result.error}`)
      }
    }
    ramdisk.clear(tool.name)
  }
  for (const tool of tools)
    fs.rmSync(path.join(opts.work, 'runs', tool.name), { recursive: true, force: true })
  return {
    info: { name, originalBytes, modifiedBytes: expected.bytes, files },
    source,
    expected: expected.digest,
  }
}

/** Tools differ in where a restore lands: under the full source path, its base name, or the target. */
function findRestored(target: string, source: string): string | undefined {
  const candidates = [path.join(target, source), path.join(target, path.basename(source)), target]
  return candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isDirectory())
}

async function main(): Promise<void> {
  const opts = parseOptions()
  fs.mkdirSync(opts.work, { recursive: true })
  const corpus = benchCorpus(opts.work, opts.seed, opts.scale)
  const cachesDropped = !opts.warm && dropCaches()
  const ramdisk = RamDisk.mount(path.join(opts.work, 'restore'), 3 * treeBytes(corpus.root))
  const loadBefore = os.loadavg()[0]!
  const results: RunResult[] = []
  const infos = new Map<string, DatasetInfo>()
  try {
    for (let r = 0; r < opts.runs; r++) {
      for (const name of opts.datasets) {
        const d = await runDataset(opts, corpus, name, r, ramdisk, results)
        infos.set(name, d.info)
      }
    }
  } finally {
    ramdisk.unmount()
    corpus.setVariant('original')
  }

  const tools = opts.tools.map((t) => t.name)
  const lines = [
    `# plakar vs restic vs borg: seed ${opts.seed}, scale ${opts.scale}, median of ${opts.runs} runs`,
    '',
    `- ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}`,
    ...opts.tools.map((t) => `- ${t.name}: ${t.version()?.split('\n')[0]}; ${t.settings}`),
    `- page cache: ${opts.warm ? 'warm (--warm): the source and the repository read just before every step' : cachesDropped ? 'dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every step' : 'NOT dropped (not permitted here): later steps may read from a warm cache'}`,
    `- every step ran at nice ${opts.nice}${opts.nice < 0 ? ' (ahead of the rest of the machine)' : ''}`,
    `- load average (1 min) at start ${loadBefore.toFixed(1)}, at end ${os.loadavg()[0]!.toFixed(1)}: figures from a busy machine carry its noise`,
    `- restore target: ${ramdisk.description}; restores verified byte for byte against the source`,
    "- MB = 10^6 bytes; throughput = corpus bytes / wall time; peak RSS = max over the tool's processes (wait4 rusage via GNU time), max over the steps of a run",
  ]
  for (const info of infos.values()) {
    lines.push(
      '',
      `## ${info.name}: ${info.files} files, ${(info.originalBytes / 1e6).toFixed(1)} MB (modified: ${(info.modifiedBytes / 1e6).toFixed(1)} MB)`,
      '',
      table(info, tools, results),
    )
  }
  const report = lines.join('\n') + '\n'
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  fs.writeFileSync(path.join(opts.work, `report-${stamp}.md`), report)
  fs.writeFileSync(
    path.join(opts.work, `results-${stamp}.json`),
    JSON.stringify({ opts: { ...opts, tools }, results }, null, 2),
  )
  console.log(report)
  console.error(`report saved in ${path.join(opts.work, `report-${stamp}.md`)}`)
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err)
  process.exit(1)
})
