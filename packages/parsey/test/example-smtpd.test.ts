import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigurationError } from '@poolp/parsey'
import { describe, expect, it } from 'vitest'
import { parseSmtpdConf, parseSmtpdConfString } from '../examples/smtpd/grammar.js'
import { lines, rejected } from './helpers.js'

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'smtpd')

describe('example: smtpd.conf', () => {
  it('parses the sample into a typed configuration', () => {
    const { state, warnings } = parseSmtpdConf(path.join(dir, 'smtpd.conf'))
    expect(warnings).toEqual([])
    expect([...state.tables.keys()]).toEqual(['aliases', 'secrets', 'domains', 'virtuals'])
    expect(state.tables.get('domains')).toEqual({
      name: 'domains',
      backend: 'inline',
      values: ['example.org', 'example.com'],
      pairs: {},
    })
    expect(state.tables.get('aliases')).toEqual({
      name: 'aliases',
      backend: 'file',
      source: '/etc/mail/aliases',
    })
    expect(state.listeners.map((l) => [l.interface, l.port, l.tls, l.maskSrc])).toEqual([
      ['lo0', 25, undefined, false],
      ['egress', 25, 'tls', false],
      ['egress', 587, 'tls-require', true],
    ])
    expect(state.actions.get('outbound')!.delivery).toEqual({
      method: 'relay',
      host: 'smtp+tls://bob@smtp.example.com',
      auth: 'secrets',
      backup: false,
    })
    expect(state.matches.map((m) => [m.from?.kind, m.for?.kind, m.action])).toEqual([
      ['local', 'local', 'local_mail'],
      ['any', 'domain', 'virtual_mail'],
      ['any', 'domain', 'local_mail'],
      ['any', 'any', 'outbound'],
      ['local', 'any', 'outbound'],
      ['src', 'any', null],
    ])
    expect(state.matches[5]!.from).toEqual({ negated: true, kind: 'src', table: 'domains', value: undefined })
    expect(state.queueTtl).toBe(4 * 86_400_000)
    expect(state.maxMessageSize).toBe(35 * 1024 * 1024)
  })

  it('reports every mistake of the bad sample, each at its place', () => {
    const err = rejected(() => parseSmtpdConf(path.join(dir, 'bad-smtpd.conf')))
    expect(lines(err).map((l) => l.replace(/^.*bad-smtpd\.conf:/, ''))).toEqual([
      "3:7: table 'aliases' is already defined",
      "5:10: expected string after 'on', found end of line",
      "6:23: expected integer between 1 and 65535 after 'port', found '99999'",
      "7:23: option 'port' given more than once",
      "9:28: undefined table 'missing'",
      "10:33: undefined action 'nowhere'",
      "11:27: expected '<' or string after 'domain', found 'action'",
      "12:11: expected duration (such as 30s, 5m, 4h, 1d) of at least 1m after 'ttl', found '10s'",
      "13:23: expected size (such as 512K, 10M, 2G) of at least 1K after 'max-message-size', found '35Q'",
    ])
  })

  it('requires actions and tables to be defined before use', () => {
    const err = rejected(() =>
      parseSmtpdConfString('match from any for any action "later"\naction "later" relay\n'),
    )
    expect(lines(err)).toEqual(["smtpd.conf:1:31: undefined action 'later'"])
    expect(() =>
      parseSmtpdConfString('table t { a, b }\nlisten on lo0 auth <t> senders <t> masquerade\n'),
    ).not.toThrow(ConfigurationError)
  })
})
