import { cat } from './cat.js'
import { checkCommand } from './check.js'
import { cloneCommand } from './clone.js'
import type { AnyCommand } from './command.js'
import { create } from './create.js'
import { diff } from './diff.js'
import { find } from './find.js'
import { info } from './info.js'
import { keep } from './keep.js'
import { ls } from './ls.js'
import { pruneCommand } from './prune.js'
import { pull } from './pull.js'
import { push } from './push.js'
import { repairCommand } from './repair.js'
import { rm } from './rm.js'
import { server } from './server.js'
import { syncCommand } from './sync.js'
import { version } from './version.js'

/** Every command but help (help.ts lists these and itself), in the order help shows them. */
export const COMMANDS: readonly AnyCommand[] = [
  create,
  push,
  pull,
  ls,
  cat,
  info,
  diff,
  find,
  checkCommand,
  rm,
  keep,
  pruneCommand,
  repairCommand,
  cloneCommand,
  syncCommand,
  server,
  version,
]

export function findCommand(name: string): AnyCommand | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases?.includes(name))
}
