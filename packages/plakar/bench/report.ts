/**
 * Turning measurements into the comparison table: medians over runs, throughput in MB/s
 * (10^6 bytes), and each plakar figure as a ratio to restic's from the same run set, next
 * to the target for it.
 */
import type { Measurement } from './measure.js'

export const PHASES = ['first', 'nochange', 'modified', 'restore'] as const
export type Phase = (typeof PHASES)[number]

export interface RunResult {
  readonly dataset: string
  readonly tool: string
  readonly run: number
  readonly phases: Partial<Record<Phase, Measurement>>
  repoBytes?: number
  /** Set when a step failed or the restored tree differed from the source. */
  error?: string
}

export interface DatasetInfo {
  readonly name: string
  /** Bytes of the original and of the modified variant. */
  readonly originalBytes: number
  readonly modifiedBytes: number
  readonly files: number
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

interface Row {
  readonly label: string
  /** The figure for one tool, from that tool's successful runs. */
  readonly value: (runs: readonly RunResult[]) => number
  readonly format: (v: number) => string
  /** The target as plakar/restic, and whether higher ratios are better. */
  readonly target?: Target
}

const MB = 1e6
const fixed = (digits: number) => (v: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-')

function rows(info: DatasetInfo): Row[] {
  const phaseSeconds = (phase: Phase) => (runs: readonly RunResult[]) =>
    median(runs.flatMap((r) => (r.phases[phase] ? [r.phases[phase]!.seconds] : [])))
  // CPU time is what a busy machine distorts least: it is reported beside the wall time.
  const phaseCpu = (phase: Phase) => (runs: readonly RunResult[]) =>
    median(
      runs.flatMap((r) => {
        const m = r.phases[phase]
        return m ? [m.userSeconds + m.systemSeconds] : []
      }),
    )
  const rate = (phase: Phase, bytes: number) => (runs: readonly RunResult[]) =>
    bytes / MB / phaseSeconds(phase)(runs)
  return [
    {
      label: 'first backup, MB/s',
      value: rate('first', info.originalBytes),
      format: fixed(1),
      target: { ratio: 3, higherIsBetter: true },
    },
    { label: 'first backup, s', value: phaseSeconds('first'), format: fixed(2) },
    { label: 'first backup, CPU s (user+sys)', value: phaseCpu('first'), format: fixed(1) },
    {
      label: 'no-change backup, s',
      value: phaseSeconds('nochange'),
      format: fixed(2),
      target: { ratio: 0.25, higherIsBetter: false },
    },
    { label: 'no-change backup, CPU s', value: phaseCpu('nochange'), format: fixed(1) },
    { label: 'modified-tree backup, s', value: phaseSeconds('modified'), format: fixed(2) },
    {
      label: 'restore, MB/s',
      value: rate('restore', info.modifiedBytes),
      format: fixed(1),
      target: { ratio: 2, higherIsBetter: true },
    },
    { label: 'restore, s', value: phaseSeconds('restore'), format: fixed(2) },
    { label: 'restore, CPU s', value: phaseCpu('restore'), format: fixed(1) },
    {
      label: 'repository, MB',
      value: (runs) => median(runs.flatMap((r) => (r.repoBytes === undefined ? [] : [r.repoBytes]))) / MB,
      format: fixed(1),
      target: { ratio: 1, higherIsBetter: false },
    },
    {
      label: 'repository, % of corpus',
      value: (runs) =>
        (100 * median(runs.flatMap((r) => (r.repoBytes === undefined ? [] : [r.repoBytes])))) /
        info.modifiedBytes,
      format: fixed(0),
    },
    {
      label: 'peak RSS, MB',
      value: (runs) => median(runs.map((r) => Math.max(...PHASES.map((p) => r.phases[p]?.maxRss ?? 0)))) / MB,
      format: fixed(0),
      target: { ratio: 1, higherIsBetter: false },
    },
  ]
}

export interface Target {
  readonly ratio: number
  readonly higherIsBetter: boolean
}

/** The header and separator lines of a markdown table whose first column is a label. */
export function tableHead(header: readonly string[]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i ? '---:' : '---')).join('|')}|`]
}

/** The ratio, target and met cells for plakar / restic against a target (or none). */
export function ratioCells(ratio: number, t: Target | undefined): string[] {
  const met =
    t && Number.isFinite(ratio)
      ? (t.higherIsBetter ? ratio >= t.ratio : ratio <= t.ratio)
        ? 'yes'
        : 'NO'
      : ''
  // Two decimals, three where two would round a miss into the target's own value.
  const digits = t && Math.abs(ratio - t.ratio) < 0.01 ? 3 : 2
  return [
    Number.isFinite(ratio) ? ratio.toFixed(digits) : '-',
    t ? `${t.higherIsBetter ? '≥' : '≤'} ${t.ratio}` : '',
    met,
  ]
}

/** A markdown table for one dataset: one column per tool, then plakar/restic and the target. */
export function table(info: DatasetInfo, tools: readonly string[], results: readonly RunResult[]): string {
  const ok = (tool: string) => results.filter((r) => r.dataset === info.name && r.tool === tool && !r.error)
  const ratioColumn = tools.includes('plakar') && tools.includes('restic')
  const header = ['', ...tools.map((t) => `${t} (${ok(t).length} runs)`)]
  if (ratioColumn) header.push('plakar / restic', 'target', 'met')
  const lines = tableHead(header)
  for (const row of rows(info)) {
    const values = tools.map((t) => (ok(t).length ? row.value(ok(t)) : Number.NaN))
    const cells = [row.label, ...values.map(row.format)]
    if (ratioColumn)
      cells.push(
        ...ratioCells(values[tools.indexOf('plakar')]! / values[tools.indexOf('restic')]!, row.target),
      )
    lines.push(`| ${cells.join(' | ')} |`)
  }
  const failures = results.filter((r) => r.dataset === info.name && r.error)
  for (const f of failures) lines.push('', `- ${f.tool}, run ${f.run}: ${f.error}`)
  return lines.join('\n')
}
