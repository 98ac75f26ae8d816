import {type Kysely, sql} from 'kysely'
import type {Database} from '../../../src/db/schema.js'

const TABLES = [
  'import_roots',
  'files',
  'profiles',
  'processed_hashes',
  'source_audio',
  'recordings',
  'stems',
] as const
const VOLATILE = new Set(['created_at', 'updated_at', 'run_id', 'hashed_at'])

/** Every row an import writes, minus what differs between equal runs (timestamps, run ids), in id order. */
export async function mediaState(
  db: Kysely<Database>,
): Promise<Record<string, Array<Record<string, unknown>>>> {
  const state: Record<string, Array<Record<string, unknown>>> = {}
  for (const table of TABLES) {
    const {rows} = await sql<Record<string, unknown>>`select * from ${sql.table(table)} order by id`.execute(
      db,
    )
    state[table] = rows.map((row) =>
      Object.fromEntries(Object.entries(row).filter(([k]) => !VOLATILE.has(k))),
    )
  }
  return state
}
