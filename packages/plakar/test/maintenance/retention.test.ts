import { applyPolicy, matchesFilter, parseDuration, type SnapshotFacts } from '@poolp/plakar/maintenance'
import { describe, expect, it } from 'vitest'

/**
 * Retention and filters as pure functions (TZ=UTC is set by the test below for buckets).
 * The cases follow restic's forget documentation: a snapshot kept by any rule stays, a
 * bucket rule keeps the newest of each of the N latest buckets.
 */
process.env.TZ = 'UTC'

let n = 0
function snap(time: string, extra: Partial<SnapshotFacts> = {}): SnapshotFacts {
  n++
  return {
    uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    time,
    hostname: 'h1',
    paths: ['/etc'],
    tags: [],
    ...extra,
  }
}

const kept = (d: ReturnType<typeof applyPolicy>) =>
  d.filter((x) => x.keep).map((x) => x.snapshot.time.slice(0, 16))

describe('parseDuration', () => {
  it('reads calendar and exact units, and rejects anything else in one line', () => {
    expect(parseDuration('1y6m')).toMatchObject({ years: 1, months: 6, ms: 0 })
    expect(parseDuration('2w3d12h')).toMatchObject({ ms: (17 * 24 + 12) * 3600_000 })
    for (const bad of ['', '3', 'd', '1x', '-1d', '1d ', '1.5d'])
      expect(() => parseDuration(bad)).toThrow(/bad duration/)
  })
})

describe('matchesFilter', () => {
  const now = Date.parse('2025-06-30T00:00:00Z')
  it('selects by age, by every tag given, and by any host given', () => {
    const a = snap('2025-06-01T00:00:00Z', { tags: ['x', 'y'] })
    const b = snap('2025-06-29T00:00:00Z', { hostname: 'h2', tags: ['x'] })
    expect(matchesFilter(a, { older: parseDuration('2w') }, now)).toBe(true)
    expect(matchesFilter(b, { older: parseDuration('2w') }, now)).toBe(false)
    expect(matchesFilter(a, { older: parseDuration('1m') }, now)).toBe(false)
    expect(matchesFilter(a, { tags: ['x', 'y'] }, now)).toBe(true)
    expect(matchesFilter(b, { tags: ['x', 'y'] }, now)).toBe(false)
    expect(matchesFilter(b, { hosts: ['h1', 'h2'] }, now)).toBe(true)
    expect(matchesFilter(a, { hosts: ['h2'] }, now)).toBe(false)
  })
})

describe('applyPolicy', () => {
  // Two snapshots a day at 06:00 and 18:00 for 60 days, from 2025-01-01.
  const series = Array.from({ length: 120 }, (_, i) => {
    const t = Date.parse('2025-01-01T06:00:00Z') + Math.floor(i / 2) * 86400_000 + (i % 2) * 12 * 3600_000
    return snap(new Date(t).toISOString())
  })

  it('keeps the N newest with -last', () => {
    expect(kept(applyPolicy(series, { last: 3 }))).toEqual([
      '2025-03-01T18:00',
      '2025-03-01T06:00',
      '2025-02-28T18:00',
    ])
  })

  it('keeps the newest of each of the N latest days, weeks, months', () => {
    expect(kept(applyPolicy(series, { daily: 3 }))).toEqual([
      '2025-03-01T18:00',
      '2025-02-28T18:00',
      '2025-02-27T18:00',
    ])
    // 2025-03-01 is a Saturday: ISO weeks end on Sundays.
    expect(kept(applyPolicy(series, { weekly: 3 }))).toEqual([
      '2025-03-01T18:00',
      '2025-02-23T18:00',
      '2025-02-16T18:00',
    ])
    expect(kept(applyPolicy(series, { monthly: 5 }))).toEqual([
      '2025-03-01T18:00',
      '2025-02-28T18:00',
      '2025-01-31T18:00',
    ])
    expect(kept(applyPolicy(series, { yearly: 1, hourly: 2 }))).toEqual([
      '2025-03-01T18:00',
      '2025-03-01T06:00',
    ])
  })

  it('unions the rules and says why each snapshot stays', () => {
    const d = applyPolicy(series, { last: 1, daily: 2, monthly: 2 })
    expect(d.filter((x) => x.keep).map((x) => [x.snapshot.time.slice(0, 16), x.reasons])).toEqual([
      ['2025-03-01T18:00', ['last', 'daily 2025-03-01', 'monthly 2025-03']],
      ['2025-02-28T18:00', ['daily 2025-02-28', 'monthly 2025-02']],
    ])
    expect(d.filter((x) => !x.keep).every((x) => x.reasons.length === 0)).toBe(true)
  })

  it('keeps everything within a span of the newest, and what carries a tag', () => {
    const tagged = [...series.slice(0, 10), snap('2025-01-03T12:00:00Z', { tags: ['keep-me'] })]
    const d = applyPolicy(tagged, { within: parseDuration('2d'), tags: ['keep-me'] })
    expect(kept(d)).toEqual([
      '2025-01-05T18:00',
      '2025-01-05T06:00',
      '2025-01-04T18:00',
      '2025-01-04T06:00',
      '2025-01-03T18:00',
      '2025-01-03T12:00',
    ])
  })

  it('judges each host and paths group apart unless told to group otherwise', () => {
    const mixed = [
      snap('2025-01-01T00:00:00Z'),
      snap('2025-01-02T00:00:00Z'),
      snap('2025-01-01T00:00:00Z', { hostname: 'h2' }),
      snap('2025-01-03T00:00:00Z', { paths: ['/home'] }),
    ]
    expect(kept(applyPolicy(mixed, { last: 1 }))).toEqual([
      '2025-01-02T00:00',
      '2025-01-03T00:00',
      '2025-01-01T00:00',
    ])
    expect(kept(applyPolicy(mixed, { last: 1, groupBy: [] }))).toEqual(['2025-01-03T00:00'])
    expect(kept(applyPolicy(mixed, { last: 1, groupBy: ['host'] }))).toEqual([
      '2025-01-03T00:00',
      '2025-01-01T00:00',
    ])
  })

  it('removes nothing more when applied again to what it kept', () => {
    const policy = { last: 2, daily: 5, weekly: 4, monthly: 12 }
    const first = applyPolicy(series, policy)
    const rest = first.filter((x) => x.keep).map((x) => x.snapshot)
    const second = applyPolicy(rest, policy)
    expect(second.every((x) => x.keep)).toBe(true)
    expect(second.map((x) => x.reasons)).toEqual(first.filter((x) => x.keep).map((x) => x.reasons))
  })

  it('refuses a policy with no rule', () => {
    expect(() => applyPolicy(series, {})).toThrow(/no retention rule/)
  })
})
