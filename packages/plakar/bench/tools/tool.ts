/**
 * A backup tool under comparison, as the benchmark drives it: a handful of commands over a
 * private repository directory and a private cache/home directory, so that runs never share
 * state with each other or with the user's own configuration.
 */
import type { Command } from '../measure.js'

export interface ToolContext {
  /** An empty directory the tool's repository lives in (its size is the repository size). */
  readonly repo: string
  /** An empty directory for the tool's cache, configuration and home. */
  readonly home: string
  readonly passphrase: string
}

export interface Tool {
  readonly name: string
  /** One line naming the version, or undefined when the tool is not installed. */
  version(): string | undefined
  /** How to install the tool when version() is undefined. */
  readonly installHint: string
  /** What the tool does in this benchmark (encryption, compression), for the report. */
  readonly settings: string
  init(ctx: ToolContext): Command
  /** The n-th backup (n = 1, 2, ...) of `source`, an absolute path. */
  backup(ctx: ToolContext, source: string, n: number): Command
  /** Restores the n-th backup into `target`, an empty directory. */
  restore(ctx: ToolContext, target: string, n: number): Command
}
