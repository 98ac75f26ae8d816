import {type Kysely, sql} from 'kysely'
import type {Database} from '../../src/db/schema.js'
import {TABLES} from '../../src/db/schema.js'

/**
 * Every row of every aedb table as PostgreSQL's own text of the whole row, ordered by id, read with fixed session
 * settings: two databases with equal dumps hold exactly the same values (microseconds, NaN, bigint, jsonb).
 * Rows of runs matching `skipRuns` (a backup's or a restore's own run) are left out.
 */
export async function dumpAllTables(
  db: Kysely<Database>,
  skipRuns: readonly string[] = [],
): Promise<Record<string, string[]>> {
  return db.transaction().execute(async (trx) => {
    await sql`set local timezone = 'UTC'`.execute(trx)
    await sql`set local extra_float_digits = 1`.execute(trx)
    const out: Record<string, string[]> = {}
    // A database at an older schema lacks the newer tables: dump what it has.
    const present = new Set(
      (
        await sql<{name: string}>`select table_name as name from information_schema.tables
          where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(trx)
      ).rows.map((r) => r.name),
    )
    for (const table of TABLES.filter((t) => present.has(t))) {
      const skip =
        table === 'runs' && skipRuns.length > 0
          ? sql`where command not in (${sql.join(skipRuns.map((c) => sql.lit(c)))})`
          : sql``
      const {rows} = await sql<{row: string}>`
        select x::text as row from ${sql.table(table)} x ${skip} order by x::text`.execute(trx)
      out[table] = rows.map((r) => r.row)
    }
    return out
  })
}
