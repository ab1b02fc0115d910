import { type Command, EXIT, flagBool, usageError } from './command.js'
import type { Context } from './context.js'

export interface CreateOptions {
  readonly encryption: boolean
  readonly compression: boolean
}

export async function runCreate(ctx: Context, opts: CreateOptions): Promise<number> {
  const passphrase = opts.encryption ? await ctx.passphrase(true) : null
  const repo = await ctx.repositories.create(ctx.global.repository, {
    passphrase,
    compression: opts.compression,
  })
  try {
    const what = [
      opts.encryption ? 'encrypted' : 'not encrypted',
      opts.compression ? 'compressed' : 'not compressed',
    ]
    ctx.out(`created repository ${repo.store.location} (${what.join(', ')})\n`)
  } finally {
    await repo.close()
  }
  return EXIT.OK
}

export const create: Command<CreateOptions> = {
  name: 'create',
  summary: 'create a repository',
  usage: 'create [-no-encryption] [-no-compression]',
  help: `Create a new, empty repository at REPOSITORY (default ~/.plakar). It is encrypted with
AES-256-GCM under a random key, itself locked by a passphrase: read from -keyfile, from
PLAKAR_PASSPHRASE, or asked twice on the terminal. Blobs are compressed with zstd.
Creating over an existing repository fails and leaves it untouched.`,
  flags: [
    { name: 'no-encryption', kind: 'bool', help: 'store data unencrypted (no passphrase asked)' },
    { name: 'no-compression', kind: 'bool', help: 'store data uncompressed' },
  ],
  parse(p) {
    if (p.args.length > 0) throw usageError('create', `unexpected argument ${p.args[0]}`)
    return { encryption: !flagBool(p, 'no-encryption'), compression: !flagBool(p, 'no-compression') }
  },
  run: runCreate,
}
