import {type Kysely, sql} from 'kysely'
import {quoteIdent} from '../db/connection.js'
import type {OwnedTable} from './owned-tables.js'

// biome-ignore lint/suspicious/noExplicitAny: tables are read from the catalog, not from today's types.
type AnyDb = Kysely<any>

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
