/**
 * Summarises V8 CPU profiles (from `node --cpu-prof`, as `pnpm bench --plakar-cpu-prof DIR`
 * writes them): self time per function, heaviest first, one profile per thread.
 *
 *   node --import tsx bench/profile.ts DIR_OR_FILE... [--top 25]
 */
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { parseOrExit } from './args.js'

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

export interface SelfTime {
  readonly name: string
  readonly ms: number
  readonly share: number
}

/** Self time per function (name + file:line), in milliseconds, heaviest first. */
export function selfTimes(profile: CpuProfile): SelfTime[] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]))
  const totals = new Map<string, number>()
  let all = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    const frame = byNode.get(id)?.callFrame
    const file = frame?.url ? path.basename(frame.url.replace(/^file:\/\//, '')) : ''
    const name = frame
      ? `${frame.functionName || '(anonymous)'} ${file}${file ? `:${frame.lineNumber + 1}` : ''}`
      : '?'
    totals.set(name, (totals.get(name) ?? 0) + delta)
    all += delta
  })
  return [...totals.entries()]
    .map(([name, us]) => ({ name: name.trim(), ms: us / 1000, share: all ? us / all : 0 }))
    .sort((a, b) => b.ms - a.ms)
}

function main(): void {
  const { values, positionals } = parseOrExit('profile', () =>
    parseArgs({
      allowPositionals: true,
      options: { top: { type: 'string', default: '25' } },
    }),
  )
  const top = Number(values.top)
  const files = positionals.flatMap((p) =>
    fs.statSync(p).isDirectory()
      ? fs
          .readdirSync(p)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => path.join(p, f))
      : [p],
  )
  if (files.length === 0) {
    console.error('usage: profile.ts DIR_OR_FILE... [--top N]  (no .cpuprofile found)')
    process.exit(2)
  }
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile
    const seconds = (profile.endTime - profile.startTime) / 1e6
    console.log(`\n${path.basename(file)}: ${seconds.toFixed(2)} s`)
    for (const t of selfTimes(profile).slice(0, top)) {
      console.log(`${t.ms.toFixed(0).padStart(8)} ms ${(100 * t.share).toFixed(1).padStart(5)}%  ${t.name}`)
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main()
