/**
 * How a re-executed child learns its role: from its command line.
 *
 * The parent runs `node [execArgv] <main module> --privsep-child=<name> <padding> [args]`.
 * The padding argument (spaces) only reserves room in the argv memory so the process title
 * `<program>: <name>` fits in full: Node cuts a title to the original command line's length.
 * Both arguments are removed from process.argv when this module is evaluated, before the
 * application reads its own arguments, so every process sees the parent's argv.
 */
const ROLE_FLAG = '--privsep-child='
const ROLE_KEY = Symbol.for('@poolp/privsep:role')

interface RoleHolder {
  [ROLE_KEY]?: { role: string | undefined }
}

/** The command-line arguments that make a re-executed process the child `name`. */
export function roleArguments(name: string, title: string): string[] {
  return [ROLE_FLAG + name, ' '.repeat(title.length + 1)]
}

function takeRole(argv: string[]): string | undefined {
  const flag = argv[2]
  if (flag === undefined || !flag.startsWith(ROLE_FLAG)) return undefined
  argv.splice(2, 2)
  return flag.slice(ROLE_FLAG.length)
}

/**
 * This process's role: the child's name, or undefined in the parent. Kept on globalThis so
 * two copies of the package in one process (src and dist) agree and argv is cut once.
 */
export function currentRole(): string | undefined {
  const holder = globalThis as RoleHolder
  holder[ROLE_KEY] ??= { role: takeRole(process.argv) }
  return holder[ROLE_KEY].role
}

currentRole()
