import {rm} from 'node:fs/promises'
import pg from 'pg'
import {quoteIdent} from './connection.js'
import type {DatabaseTarget} from './database-url.js'

/**
 * Removes a database that a command itself just created and must not leave behind (a restore that refused its
 * file): the PGlite folder, or DROP DATABASE on the server. Best effort: a failure here must not hide the reason.
 */
export async function dropCreatedDatabase(target: DatabaseTarget): Promise<void> {
  if (target.backend === 'pglite') {
    if (target.dataDir === null) return
    // The lock folder beside it too (the lock is released by now): nothing of the refused restore is left.
    for (const folder of [target.dataDir, `${target.dataDir}.locks`])
      await rm(folder, {recursive: true, force: true}).catch(() => {})
    return
  }
  const parsed = new URL(target.url)
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, ''))
  parsed.pathname = '/postgres'
  const client = new pg.Client({connectionString: parsed.toString(), connectionTimeoutMillis: 10_000})
  try {
    await client.connect()
    await client.query(`drop database if exists ${quoteIdent(name)}`)
  } catch {
    // Left for the administrator: an empty database, as a restore killed before loading would leave it.
  } finally {
    await client.end().catch(() => {})
  }
}
