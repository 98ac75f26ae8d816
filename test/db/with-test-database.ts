import type {Kysely} from 'kysely'
import type {Database} from '../../src/db/schema.js'
import type {TestDatabase} from '../support/backends.js'

/**
 * Opens a test database in this process, runs `fn` and closes it again. Close before running the CLI on the
 * same PGlite folder: the child process waits for the folder's lock.
 */
export async function withTestDatabase<T>(
  database: TestDatabase,
  fn: (db: Kysely<Database>) => Promise<T>,
): Promise<T> {
  const opened = await database.open()
  try {
    return await fn(opened.db)
  } finally {
    await opened.close()
  }
}
