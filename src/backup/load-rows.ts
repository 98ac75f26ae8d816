import {CompiledQuery, type Kysely, sql} from 'kysely'
import {quoteIdent} from '../db/connection.js'
import {AedbError, EXIT} from '../errors.js'
import type {TableHeader} from './backup-format.js'
import type {OwnedTable} from './owned-tables.js'

// biome-ignore lint/suspicious/noExplicitAny: tables are read from the catalog, not from today's types.
type AnyDb = Kysely<any>

/** Rows per INSERT: one jsonb parameter each, so no bind-parameter limit; big enough to amortise the round trip. */
export const LOAD_BATCH_ROWS = 5000

/**
 * Turns triggers off for the rest of the transaction, so the audit trigger adds no rows and `updated_at` keeps its
 * backed-up value: `session_replication_role = replica` for a superuser (PGlite, most admins), else each table's
 * user triggers disabled inside the transaction (a rollback re-enables them).
 */
export async function disableTriggers(trx: AnyDb, tables: OwnedTable[]): Promise<'replica' | 'per-table'> {
  const {rows} = await sql<{superuser: string}>`select current_setting('is_superuser') as superuser`.execute(
    trx,
  )
  if (rows[0]?.superuser === 'on') {
    await sql.raw('set local session_replication_role = replica').execute(trx)
    return 'replica'
  }
  for (const t of tables) await sql.raw(`alter table ${quoteIdent(t.name)} disable trigger user`).execute(trx)
  return 'per-table'
}

export async function enableTriggers(trx: AnyDb, tables: OwnedTable[], mode: 'replica' | 'per-table') {
  if (mode === 'replica') {
    await sql.raw('set local session_replication_role = origin').execute(trx)
    return
  }
  for (const t of tables) await sql.raw(`alter table ${quoteIdent(t.name)} enable trigger user`).execute(trx)
}

/**
 * The INSERT for one backed-up table: each line is a JSON array of text values, cast by the target's own column
 * types; identity values are kept (OVERRIDING SYSTEM VALUE).
 */
export function insertStatement(header: TableHeader, target: OwnedTable | undefined, file: string): string {
  const types = new Map(target?.columns.map((c) => [c.name, c.type]))
  const missing = header.columns.filter((c) => !types.has(c.name)).map((c) => c.name)
  if (!target || missing.length > 0) {
    throw new AedbError(
      `${file} does not fit the schema it names: ${target ? `table ${header.table} has no column(s) ${missing.join(', ')}` : `there is no table ${header.table}`}.`,
      {
        code: 'BACKUP_SCHEMA_MISMATCH',
        exit: EXIT.PROBLEMS,
        suggestions: ['The backup was edited or written by a modified aedb; use another backup.'],
      },
    )
  }
  const columns = header.columns.map((c) => quoteIdent(c.name)).join(', ')
  const values = header.columns.map((c, i) => `(e->>${i})::${types.get(c.name)}`).join(', ')
  return `insert into ${quoteIdent(header.table)} (${columns}) overriding system value select ${values} from jsonb_array_elements($1::jsonb) as e`
}

export async function insertLines(trx: AnyDb, statement: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return
  await trx.executeQuery(CompiledQuery.raw(statement, [`[${lines.join(',')}]`]))
}

/** Sets each identity sequence past the restored values, so the next audit row does not collide. */
export async function resetIdentities(trx: AnyDb, tables: OwnedTable[]): Promise<void> {
  for (const table of tables) {
    for (const column of table.columns.filter((c) => c.identity)) {
      const t = quoteIdent(table.name)
      const c = quoteIdent(column.name)
      await sql
        .raw(
          `select setval(pg_get_serial_sequence('${t.replaceAll("'", "''")}', '${column.name.replaceAll("'", "''")}'), coalesce(max(${c}), 0) + 1, false) from ${t}`,
        )
        .execute(trx)
    }
  }
}
