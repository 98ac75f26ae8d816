import {type Kysely, sql} from 'kysely'
import {BACKUP_SESSION_SETTINGS} from './backup-format.js'
import {type OwnedTable, rowLinesQuery} from './owned-tables.js'

// biome-ignore lint/suspicious/noExplicitAny: runs inside a transaction on whatever schema the database has.
type AnyDb = Kysely<any>

const CURSOR = 'aedb_backup_rows'

/** Makes text representations independent of the server's settings, for the rest of the transaction. */
export async function applyBackupSession(trx: AnyDb): Promise<void> {
  for (const statement of BACKUP_SESSION_SETTINGS) await sql.raw(statement).execute(trx)
}

/**
 * One table's rows as backup lines, in batches, through a cursor so memory stays flat however big the table.
 * Must run inside a transaction that has applied the backup session settings.
 */
export async function* tableLines(trx: AnyDb, table: OwnedTable, batchSize = 2000): AsyncGenerator<string[]> {
  await sql.raw(`declare ${CURSOR} no scroll cursor for ${rowLinesQuery(table)}`).execute(trx)
  try {
    for (;;) {
      const {rows} = await sql.raw<{line: string}>(`fetch forward ${batchSize} from ${CURSOR}`).execute(trx)
      if (rows.length === 0) return
      yield rows.map((r) => r.line)
      if (rows.length < batchSize) return
    }
  } finally {
    await sql.raw(`close ${CURSOR}`).execute(trx)
  }
}
