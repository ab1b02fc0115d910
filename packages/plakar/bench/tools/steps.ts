/**
 * The maintenance steps of a tool, derived from the commands tools/*.ts already build, so that
 * the repository location, environment and global flags stay theirs, and the output each
 * step prints, read back.
 */
import fs from 'node:fs'
import type { Command } from '../measure.js'
import type { Tool, ToolContext } from './tool.js'

/**
 * A maintenance command of a tool, derived from its init command so that the repository
 * location, environment and global flags stay those of tools/*.ts: both end with the
 * subcommand (plakar `... on REPO create`, restic `-r REPO init`), which `args` replace.
 */
export function subcommand(tool: Tool, ctx: ToolContext, ...args: string[]): Command {
  const init = tool.init(ctx)
  const last = init.args[init.args.length - 1]
  if (last !== 'create' && last !== 'init') throw new Error(`${tool.name}: unexpected init command ${last}`)
  return { ...init, args: [...init.args.slice(0, -1), ...args] }
}

/** The backup command of tools/*.ts (which ends with its one source path), with `extra` paths added. */
export function backupOf(tool: Tool, ctx: ToolContext, source: string, n: number, extra: string): Command {
  const cmd = tool.backup(ctx, source, n)
  if (cmd.args[cmd.args.length - 1] !== source) throw new Error(`${tool.name}: unexpected backup command`)
  return { ...cmd, args: [...cmd.args, extra] }
}

/** The snapshot id a backup printed: plakar `push: snapshot 1a2b3c4d: ...`, restic `snapshot 1a2b3c4d saved`. */
export function snapshotId(tool: Tool, log: string): string {
  const text = fs.readFileSync(log, 'utf8')
  const m =
    tool.name === 'plakar'
      ? /push: snapshot ([0-9a-f]{8,})/.exec(text)
      : /snapshot ([0-9a-f]{8,}) saved/.exec(text)
  if (!m) throw new Error(`${tool.name}: no snapshot id in ${log}`)
  return m[1]!
}

/** How many snapshots the repository lists, from `plakar ls` or `restic snapshots --json` output. */
export function countSnapshots(tool: Tool, log: string): number {
  const text = fs.readFileSync(log, 'utf8')
  if (tool.name === 'plakar')
    return text
      .split('\n')
      .filter((l) => /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/.test(l)).length
  const json = text.split('\n').find((l) => l.startsWith('['))
  return json ? (JSON.parse(json) as unknown[]).length : Number.NaN
}
