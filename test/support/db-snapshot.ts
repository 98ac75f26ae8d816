import {type Kysely, sql} from 'kysely'
import type {Database, TableName} from '../../src/db/schema.js'
import {SCHEMA} from '../../src/db/schema.js'

/** Columns that differ between two runs that wrote the same data: when and by which run. */
const VOLATILE = new Set(['created_at', 'updated_at', 'run_id', 'hashed_at'])

/**
 * Every row of aedb's data tables (not the bookkeeping: runs, run_messages, audit_log, verify's tables), without timestamps and run ids, ordered by id: equal
 * snapshots mean equal database states as far as the data goes.
 */
export async function snapshotData(db: Kysely<Database>): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {}
  for (const table of Object.keys(SCHEMA) as TableName[]) {
    if (table === 'runs' || table === 'run_messages' || table === 'audit_log') continue
    // verify's own state (what it last saw, its findings, the recorded schema fingerprint) is not imported data.
    if (table.startsWith('verify_')) continue
    const columns = Object.keys(SCHEMA[table]).filter((c) => !VOLATILE.has(c))
    const {rows} = await sql<
      Record<string, unknown>
    >`select ${sql.join(columns.map((c) => sql.ref(c)))} from ${sql.table(table)} order by ${sql.join(
      // Not every table has an id column; ordering by every column is deterministic for all of them.
      columns.map((c) => sql.ref(c)),
    )}`.execute(db)
    out[table] = rows.map((r) => JSON.parse(JSON.stringify(r)))
  }
  return out
}

/** Row counts of every aedb table, runs and audit_log included. */
export async function countAll(db: Kysely<Database>): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const table of Object.keys(SCHEMA) as TableName[]) {
    const {rows} = await sql<{n: number}>`select count(*)::int as n from ${sql.table(table)}`.execute(db)
    out[table] = rows[0]!.n
  }
  return out
}
