import {access} from 'node:fs/promises'
import type {Kysely} from 'kysely'
import pg from 'pg'
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

/** Whether the database exists at all: the PGlite folder, or the database on the server. Opens nothing of it. */
export async function databaseExists(database: TestDatabase): Promise<boolean> {
  const {target} = database
  if (target.backend === 'pglite') {
    if (target.dataDir === null) return true
    return access(target.dataDir).then(
      () => true,
      () => false,
    )
  }
  const url = new URL(target.url)
  const name = decodeURIComponent(url.pathname.slice(1))
  url.pathname = '/postgres'
  const client = new pg.Client({connectionString: url.toString()})
  await client.connect()
  try {
    const {rows} = await client.query('select 1 from pg_database where datname = $1', [name])
    return rows.length === 1
  } finally {
    await client.end()
  }
}
