/**
 * Command-line parsing for the bench scripts: a mistyped option is the user's mistake, not a
 * bug, so it gets one line and exit status 2 instead of a stack trace.
 */
export function parseOrExit<T>(script: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    const first = (err as Error).message.split('\n')[0]
    console.error(`${script}: ${first} (values starting with - take --name=VALUE)`)
    process.exit(2)
  }
}
