/**
 * The plakar command line. main() runs one command line; each command is one file with its
 * flags, help (with EXIT STATUS) and a run() function; `repositories` opens real
 * repositories by location (a path, fs://, sqlite://, postgres://, plakar://).
 */
export { CliError, type CliErrorCode } from '../errors.js'
export { main } from './cli.js'
export { type Command, EXIT } from './command.js'
export {
  Context,
  type GlobalOptions,
  type Io,
  type OpenedRepository,
  type RepositoryProvider,
} from './context.js'
export { COMMANDS } from './registry.js'
export { repositories } from './repositories.js'
