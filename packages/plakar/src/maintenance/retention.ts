import { MaintenanceError } from '../errors.js'

/**
 * Which snapshots to remove: filters (rm) and retention policies (keep), as pure functions
 * of the snapshots' headers and the time now, so that what a command would do can be shown
 * (-dry-run) and tested without a repository.
 *
 * A policy has restic's `forget` semantics. Snapshots are grouped (by host and paths unless
 * told otherwise); within a group, newest first, each rule keeps snapshots on its own, and a
 * snapshot kept by any rule stays:
 * - last N: the N newest;
 * - hourly/daily/weekly/monthly/yearly N: the newest snapshot of each of the N most recent
 *   hours (days, ISO weeks, months, years) that have one, in local time;
 * - within DURATION: every snapshot no older than DURATION before the group's newest;
 * - tag TAG: every snapshot carrying TAG.
 * Removing a snapshot the policy drops never changes what it keeps (a rule counts only what
 * it keeps, and keeps the newest of a bucket), so a policy applied twice removes nothing the
 * second time, and a run killed halfway is finished by the next one.
 */

/** What retention and filters look at in a snapshot (SnapshotHeader has it all). */
export interface SnapshotFacts {
  readonly uuid: string
  /** ISO 8601 UTC. */
  readonly time: string
  readonly hostname: string
  readonly paths: readonly string[]
  readonly tags: readonly string[]
}

export interface SnapshotFilter {
  /** Only snapshots older than this (an age, see parseDuration). */
  readonly older?: Duration
  /** Only snapshots carrying every one of these tags. */
  readonly tags?: readonly string[]
  /** Only snapshots from one of these hosts. */
  readonly hosts?: readonly string[]
}

/** A calendar span: years and months are calendar ones, the rest exact. */
export interface Duration {
  readonly years: number
  readonly months: number
  readonly ms: number
  /** As the user wrote it, for messages. */
  readonly text: string
}

const UNIT_MS: Record<string, number> = { w: 7 * 86400_000, d: 86400_000, h: 3600_000 }

/** `1y6m`, `30d`, `2w`, `12h` (y years, m months, w weeks, d days, h hours), summed. */
export function parseDuration(text: string): Duration {
  const parts = text.match(/^(\d+[ymwdh])+$/) ? text.match(/\d+[ymwdh]/g)! : null
  if (parts === null)
    throw new MaintenanceError(
      'MAINT_USAGE',
      `bad duration "${text}": use numbers with units y, m (months), w, d, h, e.g. 30d or 1y6m`,
    )
  let years = 0
  let months = 0
  let ms = 0
  for (const p of parts) {
    const n = Number(p.slice(0, -1))
    const unit = p.slice(-1)
    if (unit === 'y') years += n
    else if (unit === 'm') months += n
    else ms += n * UNIT_MS[unit]!
  }
  if (!Number.isSafeInteger(ms) || years > 10000 || months > 120000)
    throw new MaintenanceError('MAINT_USAGE', `bad duration "${text}": too large`)
  return { years, months, ms, text }
}

/** The instant `d` before `from` (ms since the epoch), calendar units in local time. */
export function before(from: number, d: Duration): number {
  const t = new Date(from)
  if (d.years !== 0 || d.months !== 0) t.setMonth(t.getMonth() - d.months - 12 * d.years)
  return t.getTime() - d.ms
}

export function matchesFilter(s: SnapshotFacts, f: SnapshotFilter, now: number): boolean {
  if (f.older !== undefined && !(Date.parse(s.time) < before(now, f.older))) return false
  if (f.tags !== undefined && !f.tags.every((t) => s.tags.includes(t))) return false
  if (f.hosts !== undefined && f.hosts.length > 0 && !f.hosts.includes(s.hostname)) return false
  return true
}

export interface RetentionPolicy {
  readonly last?: number
  readonly hourly?: number
  readonly daily?: number
  readonly weekly?: number
  readonly monthly?: number
  readonly yearly?: number
  readonly within?: Duration
  readonly tags?: readonly string[]
  /** What snapshots are grouped by; empty = one group of all. Default host and paths. */
  readonly groupBy?: readonly GroupKey[]
}

export type GroupKey = 'host' | 'paths' | 'tags'
export const GROUP_KEYS: readonly GroupKey[] = ['host', 'paths', 'tags']

export interface Decision<S extends SnapshotFacts> {
  readonly snapshot: S
  readonly keep: boolean
  /** Why it stays (`last`, `daily 2025-03-04`, `within 30d`, `tag weekly`...); empty when it goes. */
  readonly reasons: readonly string[]
  /** The group it was judged in, as `host=a paths=/etc`; empty with no grouping. */
  readonly group: string
}

/** True when the policy has at least one rule (a policy with none would remove everything). */
export function hasRule(p: RetentionPolicy): boolean {
  return (
    p.last !== undefined ||
    p.hourly !== undefined ||
    p.daily !== undefined ||
    p.weekly !== undefined ||
    p.monthly !== undefined ||
    p.yearly !== undefined ||
    p.within !== undefined ||
    (p.tags !== undefined && p.tags.length > 0)
  )
}

type Bucket = (t: Date) => string

const pad = (n: number, w = 2) => String(n).padStart(w, '0')
const BUCKETS: readonly (readonly ['hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly', Bucket])[] = [
  ['hourly', (t) => `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}h`],
  ['daily', (t) => `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`],
  ['weekly', isoWeek],
  ['monthly', (t) => `${t.getFullYear()}-${pad(t.getMonth() + 1)}`],
  ['yearly', (t) => `${t.getFullYear()}`],
]

/** `2025-W09`: the ISO 8601 week (weeks start on Monday; week 1 holds the year's first Thursday). */
function isoWeek(t: Date): string {
  const d = new Date(Date.UTC(t.getFullYear(), t.getMonth(), t.getDate()))
  d.setUTCDate(d.getUTCDate() + 4 - (d.getUTCDay() || 7)) // the Thursday of this week decides its year
  const jan1 = Date.UTC(d.getUTCFullYear(), 0, 1)
  return `${d.getUTCFullYear()}-W${pad(Math.ceil(((d.getTime() - jan1) / 86400_000 + 1) / 7))}`
}

function groupOf(s: SnapshotFacts, by: readonly GroupKey[]): string {
  return by
    .map((k) =>
      k === 'host'
        ? `host=${s.hostname}`
        : k === 'paths'
          ? `paths=${[...s.paths].sort().join(',')}`
          : `tags=${[...s.tags].sort().join(',')}`,
    )
    .join(' ')
}

/** Each snapshot with whether the policy keeps it and why, newest first within each group. */
export function applyPolicy<S extends SnapshotFacts>(
  snapshots: readonly S[],
  policy: RetentionPolicy,
): Decision<S>[] {
  if (!hasRule(policy))
    throw new MaintenanceError('MAINT_USAGE', 'no retention rule given: nothing would be kept')
  const by = policy.groupBy ?? ['host', 'paths']
  const groups = new Map<string, S[]>()
  for (const s of snapshots) {
    const g = groupOf(s, by)
    const list = groups.get(g) ?? []
    list.push(s)
    groups.set(g, list)
  }
  const out: Decision<S>[] = []
  for (const [group, list] of [...groups].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const newestFirst = [...list].sort((a, b) =>
      a.time > b.time ? -1 : a.time < b.time ? 1 : a.uuid > b.uuid ? -1 : 1,
    )
    const newest = newestFirst[0] === undefined ? 0 : Date.parse(newestFirst[0].time)
    const counts = new Map<string, number>()
    const lastBucket = new Map<string, string>()
    newestFirst.forEach((s, i) => {
      const reasons: string[] = []
      const t = new Date(s.time)
      if (policy.last !== undefined && i < policy.last) reasons.push('last')
      for (const [rule, bucketOf] of BUCKETS) {
        const n = policy[rule]
        if (n === undefined || (counts.get(rule) ?? 0) >= n) continue
        const b = bucketOf(t)
        if (lastBucket.get(rule) === b) continue
        lastBucket.set(rule, b)
        counts.set(rule, (counts.get(rule) ?? 0) + 1)
        reasons.push(`${rule} ${b}`)
      }
      if (policy.within !== undefined && t.getTime() >= before(newest, policy.within))
        reasons.push(`within ${policy.within.text}`)
      for (const tag of policy.tags ?? []) if (s.tags.includes(tag)) reasons.push(`tag ${tag}`)
      out.push({ snapshot: s, keep: reasons.length > 0, reasons, group })
    })
  }
  return out
}
