import {type Kysely, sql} from 'kysely'
import {quoteIdent} from '../db/connection.js'
import {
  ensureMigrationTable,
  getMigrationStatus,
  MIGRATION_LOCK_KEY,
  MIGRATION_TABLE,
  migrationChecksum,
  migrationFile,
  type NamedMigration,
} from '../db/migrator.js'
import {AedbError, EXIT} from '../errors.js'
import {readOwnedTables} from './owned-tables.js'

// biome-ignore lint/suspicious/noExplicitAny: the schema changes under this code, migration by migration.
type AnyDb = Kysely<any>

/** Runs that a fresh database already has (from `aedb init` or `aedb migrate`): they do not make it "not empty". */
const SETUP_COMMANDS = ['init', 'migrate']
/** Tables a fresh database already fills itself (the schema fingerprint every migration run records for verify). */
const SETUP_TABLES = new Set(['verify_schema_fingerprints'])

/** Waits for any migration run on this database, and keeps others out until the transaction ends. */
export async function lockMigrations(trx: AnyDb): Promise<void> {
  await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY[0]}::int4, ${MIGRATION_LOCK_KEY[1]}::int4)`.execute(
    trx,
  )
}

/** Row counts of the target's aedb tables that hold data (setup runs and tables excluded); empty when the target is empty. */
export async function targetContents(trx: AnyDb): Promise<Record<string, number>> {
  const {tables} = await readOwnedTables(trx)
  const counts: Record<string, number> = {}
  for (const table of tables) {
    if (SETUP_TABLES.has(table.name)) continue
    const where =
      table.name === 'runs' ? ` where command not in (${SETUP_COMMANDS.map((c) => `'${c}'`).join(', ')})` : ''
    const {rows} = await sql
      .raw<{n: number}>(`select count(*)::int as n from ${quoteIdent(table.name)}${where}`)
      .execute(trx)
    if ((rows[0]?.n ?? 0) > 0) counts[table.name] = rows[0]!.n
  }
  return counts
}

/**
 * Brings the target's schema to exactly the backup's migrations, inside the restore transaction: kept as it is when
 * it already matches (its tables emptied), otherwise its migrations reverted newest first and the backup's applied.
 */
export async function prepareSchema(
  trx: AnyDb,
  backupMigrations: readonly string[],
  migrations: readonly NamedMigration[],
): Promise<{reverted: string[]; applied: string[]}> {
  const status = await getMigrationStatus(trx, migrations)
  const unknown = status.problems.filter((p) => p.kind === 'missing')
  if (unknown.length > 0) {
    throw new AedbError(
      `The target database has migrations this aedb does not know (${unknown.map((p) => p.name).join(', ')}): a newer aedb set it up.`,
      {
        code: 'TARGET_TOO_NEW',
        exit: EXIT.USAGE,
        suggestions: ['Restore with the aedb version that migrated the target, or into an empty database.'],
      },
    )
  }
  const current = status.applied.map((a) => a.name)
  if (JSON.stringify(current) === JSON.stringify(backupMigrations)) {
    await emptyTables(trx)
    return {reverted: [], applied: []}
  }
  const byName = new Map(migrations.map((m) => [m.name, m]))
  for (const name of [...current].reverse()) {
    const migration = byName.get(name)!
    if (!migration.module.down) {
      throw new AedbError(`Cannot replace the target: ${migrationFile(name)} cannot be reverted.`, {
        code: 'RESTORE_CANNOT_REVERT',
        exit: EXIT.DATABASE,
        suggestions: ['Restore into an empty database instead.'],
      })
    }
    await migration.module.down(trx)
  }
  await ensureMigrationTable(trx)
  await sql`delete from ${sql.table(MIGRATION_TABLE)}`.execute(trx)
  for (const name of backupMigrations) await applyMigration(trx, byName.get(name)!)
  return {reverted: [...current].reverse(), applied: [...backupMigrations]}
}

/** Applies one migration inside the caller's transaction and records it as `aedb migrate` would. */
export async function applyMigration(trx: AnyDb, migration: NamedMigration): Promise<void> {
  const started = performance.now()
  await migration.module.up(trx)
  const checksum = await migrationChecksum(migration)
  await sql`insert into ${sql.table(MIGRATION_TABLE)} (name, checksum, execution_ms)
    values (${migration.name}, ${checksum}, ${Math.round(performance.now() - started)})`.execute(trx)
}

async function emptyTables(trx: AnyDb): Promise<void> {
  const {tables} = await readOwnedTables(trx)
  if (tables.length === 0) return
  await sql.raw(`truncate ${tables.map((t) => quoteIdent(t.name)).join(', ')} restart identity`).execute(trx)
}
