import { readFileSync } from 'node:fs'
import { CliError } from '../errors.js'
import { errnoText } from '../snapshot/errno.js'

/**
 * Where a passphrase comes from, in this order: the -keyfile file (its first line), the
 * PLAKAR_PASSPHRASE variable, else a prompt on the terminal without echo (asked twice when
 * creating a repository). Without a terminal and without either, it is an error: a
 * passphrase is never read from a pipe by surprise.
 */
export interface PassphraseIo {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown }
  readonly stderr: NodeJS.WritableStream
}

/**
 * Which passphrase: the repository's (the default), or another's, such as sync's peer
 * (`PLAKAR_PEER_PASSPHRASE`, `-peer-keyfile`, prompted as "peer passphrase").
 */
export interface PassphraseSource {
  readonly variable: string
  readonly flag: string
  readonly label: string
}
const OWN: PassphraseSource = { variable: 'PLAKAR_PASSPHRASE', flag: '-keyfile', label: 'passphrase' }

export async function getPassphrase(
  io: PassphraseIo,
  keyfile: string | undefined,
  opts: { confirm: boolean; source?: PassphraseSource },
): Promise<Uint8Array> {
  const { variable, flag, label } = opts.source ?? OWN
  if (keyfile !== undefined) {
    let text: string
    try {
      text = readFileSync(keyfile, 'utf8')
    } catch (err) {
      throw new CliError('CLI_FILE', `${flag} ${keyfile}: ${errnoText(err)}`)
    }
    const line = text.split(/\r?\n/)[0] ?? ''
    if (line === '') throw new CliError('CLI_PASSPHRASE', `${flag} ${keyfile}: the file is empty`)
    return Buffer.from(line)
  }
  const env = io.env[variable]
  if (env !== undefined && env !== '') return Buffer.from(env)
  if (!io.stdin.isTTY || io.stdin.setRawMode === undefined) {
    throw new CliError(
      'CLI_PASSPHRASE',
      `no ${label}: set ${variable}, use ${flag} FILE, or run on a terminal`,
    )
  }
  const first = await prompt(io, `${label}: `)
  if (first.length === 0) throw new CliError('CLI_PASSPHRASE', `empty ${label}`)
  if (opts.confirm) {
    const again = await prompt(io, `${label} (again): `)
    if (!Buffer.from(first).equals(Buffer.from(again)))
      throw new CliError('CLI_PASSPHRASE', 'passphrases do not match')
  }
  return Buffer.from(first)
}

/** Read one line from the terminal in raw mode, echoing nothing. */
function prompt(io: PassphraseIo, text: string): Promise<string> {
  const stdin = io.stdin
  io.stderr.write(text)
  stdin.setRawMode!(true)
  stdin.resume()
  return new Promise((resolve, reject) => {
    let line = ''
    const done = (err: Error | null) => {
      stdin.off('data', onData)
      stdin.setRawMode!(false)
      stdin.pause()
      io.stderr.write('\n')
      if (err) reject(err)
      else resolve(line)
    }
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') return done(null)
        if (ch === '\u0003') return done(new CliError('CLI_PASSPHRASE', 'interrupted'))
        if (ch === '\u0004') {
          if (line === '') return done(new CliError('CLI_PASSPHRASE', 'no passphrase given'))
          return done(null)
        }
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1)
        else if (ch === '\u0015') line = ''
        else if (ch >= ' ') line += ch
      }
    }
    stdin.on('data', onData)
  })
}
