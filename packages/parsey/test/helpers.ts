import { ConfigurationError } from '@poolp/parsey'

/** Runs `f`, which must throw a ConfigurationError, and returns it. */
export function rejected(f: () => unknown): ConfigurationError {
  try {
    f()
  } catch (err) {
    if (err instanceof ConfigurationError) return err
    throw new Error(`expected a ConfigurationError, got ${String(err)}`)
  }
  throw new Error('expected a ConfigurationError, but the parse succeeded')
}

/** `file:line:col: message` of each error. */
export function lines(err: ConfigurationError): string[] {
  return err.errors.map((d) => `${d.where()}: ${d.message}`)
}
