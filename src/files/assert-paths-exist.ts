import {stat} from 'node:fs/promises'
import {AedbError, EXIT} from '../errors.js'

/**
 * Refuses (exit 2, naming the path) a command line whose paths do not exist, before anything opens the
 * database: a typo must not wait on, or be masked by, a database that is slow or unreachable.
 */
export async function assertPathsExist(paths: readonly string[], suggestions: string[]): Promise<void> {
  for (const given of paths) {
    if (await stat(given).catch(() => null)) continue
    throw new AedbError(`${given} does not exist.`, {code: 'PATH_NOT_FOUND', exit: EXIT.USAGE, suggestions})
  }
}
