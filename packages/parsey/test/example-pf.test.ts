import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parsePfConf, parsePfConfString } from '../examples/pf/grammar.js'
import { lines, rejected } from './helpers.js'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'pf')

describe('example: pf.conf', () => {
  it('parses the sample: macros, tables, options, pass/block rules with lists', () => {
    const { state, warnings } = parsePfConf(path.join(dir, 'pf.conf'))
    expect(warnings).toEqual([])
    expect(state.skip).toEqual(['lo'])
    expect(state.blockPolicy).toBe('return')
    expect(state.limits).toEqual({ states: 20000, frags: 5000 })
    expect(state.tables.get('goodguys')!.addresses).toEqual([
      { negated: false, address: '192.0.2.0/24' },
      { negated: true, address: '192.0.2.5' },
    ])
    expect(state.tables.get('spamd')!.files).toEqual(['/var/db/spamd'])
    expect(state.rules).toHaveLength(8)
    const [blockAll, privnets, , outAll, services, , goodguys, spamd] = state.rules
    expect([blockAll!.action, blockAll!.direction, blockAll!.log]).toEqual(['block', 'in', true])
    expect(privnets!.policy).toBe('drop')
    expect(privnets!.from.hosts.map((h) => h.value)).toEqual([
      '127.0.0.0/8',
      '192.168.0.0/16',
      '172.16.0.0/12',
      '10.0.0.0/8',
    ])
    expect(outAll!.protocols).toEqual(['tcp', 'udp'])
    expect(services!.to.ports).toEqual([
      { op: '=', port: 22 },
      { op: '=', port: 113 },
    ])
    expect([services!.flags, services!.state, services!.label, services!.line]).toEqual([
      'S/SA',
      'keep',
      'services',
      21,
    ])
    expect(goodguys!.interfaces.map((i) => i.name)).toEqual(['lo0', 'fxp0'])
    expect(spamd!.from.hosts).toEqual([{ negated: true, kind: 'table', value: 'spamd' }])
    expect(spamd!.to.ports).toEqual([
      { op: '>', port: 1023 },
      { op: 'range', port: 6000, to: 6010 },
    ])
  })

  it('takes -D macros that override the file', () => {
    const text = 'ext_if = "em0"\npass in on $ext_if all\n'
    const { state } = parsePfConfString(text, { macros: { ext_if: 'vio0' } })
    expect(state.rules[0]!.interfaces).toEqual([{ negated: false, name: 'vio0' }])
  })

  it('reports rule errors with what was expected', () => {
    const err = rejected(() =>
      parsePfConfString(
        'pass in on\nblock out from <nope> to any\npass proto { tcp, udp to any\nblock sideways all\n',
      ),
    )
    expect(lines(err)).toEqual([
      "pf.conf:1:11: expected '{', '!' or string after 'on', found end of line",
      'pf.conf:2:1: table <nope> is not defined',
      "pf.conf:3:23: expected string or '}' after 'udp', found 'to'",
      "pf.conf:4:7: expected 'drop', 'return', 'in', 'out', 'log', 'quick', 'on', 'inet', ... after 'block', found 'sideways'",
    ])
  })
})
