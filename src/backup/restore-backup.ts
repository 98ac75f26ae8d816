import path from 'node:path'
import type {Kysely} from 'kysely'
import {type Backend, withDatabase} from '../db/connection.js'
import type {DatabaseTarget} from '../db/database-url.js'
import {migrationChecksum, type NamedMigration} from '../db/migrator.js'
import {finishRun, type RunCommand, startRun} from '../db/runs.js'
import type {Database} from '../db/schema.js'
import {
  readRecordedFingerprint,
  readSchemaFingerprint,
  recordSchemaFingerprint,
} from '../db/schema-fingerprint.js'
import {AedbError, EXIT} from '../errors.js'
import type {TableHeader, TableManifest} from './backup-format.js'
import {
  disableTriggers,
  enableTriggers,
  insertLines,
  insertStatement,
  LOAD_BATCH_ROWS,
  resetIdentities,
} from './load-rows.js'
import {type OwnedTable, readOwnedTables} from './owned-tables.js'
import {backupEntries, type VerifiedBackup, verifyBackup} from './read-backup.js'
import {applyMigration, lockMigrations, prepareSchema, targetContents} from './restore-schema.js'
import {applyBackupSession, tableChecksum} from './table-lines.js'

export type RestorePhase = 'verify' | 'schema' | 'load' | 'compare' | 'migrate'

export interface RestoreProgress {
  phase: RestorePhase
  table?: string
  rows: number
  totalRows: number
}

export interface RestoreBackupProps {
  target: DatabaseTarget
  file: string
  migrations: readonly NamedMigration[]
  version: string
  argv?: readonly string[]
  /** The run recorded in the restored database. */
  command?: Extract<RunCommand, 'restore' | 'promote'>
  /** Replace a target that already holds data (all or nothing). */
  force?: boolean
  onProgress?: (progress: RestoreProgress) => void
  onWarning?: (message: string) => void
}

export interface TableComparison {
  name: string
  backup: TableManifest
  restored: TableManifest
  matches: boolean
}

export interface RestoreResult {
  file: string
  backend: Backend
  location: string
  created: boolean
  replaced: boolean
  backup: {aedbVersion: string; schemaVersion: string; createdAt: string; backend: Backend; sha256: string}
  /** The target's schema version after the restore (newer than the backup's when it was upgraded). */
  schemaVersion: string
  migrationsApplied: string[]
  tables: TableComparison[]
  rows: number
  durationMs: number
}

/**
 * Restores a backup into an empty database (or replaces a database's content with `force`), all or nothing: the
 * file is checked before the database is opened, then schema, rows, the table-by-table comparison and the upgrade to
 * this aedb's schema all happen in one transaction.
 */
export async function restoreBackup(props: RestoreBackupProps): Promise<RestoreResult> {
  const started = performance.now()
  const file = path.resolve(props.file)
  props.onProgress?.({phase: 'verify', rows: 0, totalRows: 0})
  const verified = await verifyBackup(file, props.onWarning)
  const pending = planMigrations(verified, props.migrations)
  await warnEditedMigrations(verified, props.migrations, props.onWarning)
  return withDatabase(
    props.target,
    async ({db, backend, location, created}) => {
      const loaded = await db
        .connection()
        .execute((conn) =>
          conn.transaction().execute((trx) => restoreInTransaction(props, trx, verified, pending)),
        )
      return {
        file,
        backend,
        location,
        created,
        ...loaded,
        backup: {
          aedbVersion: verified.header.aedbVersion,
          schemaVersion: verified.header.schemaVersion,
          createdAt: verified.header.createdAt,
          backend: verified.header.backend,
          sha256: verified.sha256,
        },
        rows: verified.rows,
        durationMs: Math.round(performance.now() - started),
      }
    },
    {createDatabase: true},
  )
}

type Loaded = Pick<RestoreResult, 'replaced' | 'schemaVersion' | 'migrationsApplied' | 'tables'>

async function restoreInTransaction(
  props: RestoreBackupProps,
  trx: Kysely<Database>,
  verified: VerifiedBackup,
  pending: NamedMigration[],
): Promise<Loaded> {
  await lockMigrations(trx)
  await applyBackupSession(trx)
  const contents = await targetContents(trx)
  const replaced = Object.keys(contents).length > 0
  if (replaced && !props.force) throw notEmpty(contents)
  props.onProgress?.({phase: 'schema', rows: 0, totalRows: verified.rows})
  await prepareSchema(
    trx,
    verified.header.migrations.map((m) => m.name),
    props.migrations,
  )
  const {tables} = await readOwnedTables(trx)
  const mode = await disableTriggers(trx, tables)
  await loadRows(props, trx, verified, tables)
  await resetIdentities(trx, tables)
  await enableTriggers(trx, tables, mode)
  const comparison = await compareTables(props, trx, verified, tables)
  for (const migration of pending) {
    props.onProgress?.({
      phase: 'migrate',
      table: migration.name,
      rows: verified.rows,
      totalRows: verified.rows,
    })
    await applyMigration(trx, migration)
  }
  await recordTargetSchema(trx, pending.at(-1)?.name ?? verified.header.schemaVersion)
  const runId = await startRun({
    db: trx,
    command: props.command ?? 'restore',
    argv: props.argv ?? [],
    version: props.version,
  })
  await finishRun(trx, runId, 'succeeded', {rows: verified.rows, tables: comparison.length})
  return {
    replaced,
    schemaVersion: pending.at(-1)?.name ?? verified.header.schemaVersion,
    migrationsApplied: pending.map((m) => m.name),
    tables: comparison,
  }
}

/**
 * The target's schema was just made by aedb's own migrations, so it is what verify must expect from now on; the
 * fingerprints restored with the data describe the source's server, which may be another PostgreSQL version.
 */
async function recordTargetSchema(trx: Kysely<Database>, schemaVersion: string): Promise<void> {
  const [live, recorded] = [await readSchemaFingerprint(trx), await readRecordedFingerprint(trx)]
  if (recorded?.sha256 !== live.sha256) await recordSchemaFingerprint(trx, schemaVersion)
}

async function loadRows(
  props: RestoreBackupProps,
  trx: Kysely<Database>,
  verified: VerifiedBackup,
  tables: OwnedTable[],
): Promise<void> {
  const byName = new Map(tables.map((t) => [t.name, t]))
  let statement = ''
  let table = ''
  let batch: string[] = []
  let done = 0
  const flush = async () => {
    await insertLines(trx, statement, batch)
    done += batch.length
    batch = []
    props.onProgress?.({phase: 'load', table, rows: done, totalRows: verified.rows})
  }
  for await (const entry of backupEntries(verified.file)) {
    if (entry.kind === 'table') {
      table = entry.header.table
      statement = insertStatement(entry.header, byName.get(table), verified.file)
      props.onProgress?.({phase: 'load', table, rows: done, totalRows: verified.rows})
    } else if (entry.kind === 'rows') {
      for (const line of entry.lines) batch.push(line)
      if (batch.length >= LOAD_BATCH_ROWS) await flush()
    } else {
      await flush()
    }
  }
}

/** Reads every restored table back exactly as a backup would and compares it with the backup's manifest. */
async function compareTables(
  props: RestoreBackupProps,
  trx: Kysely<Database>,
  verified: VerifiedBackup,
  tables: OwnedTable[],
): Promise<TableComparison[]> {
  const byName = new Map(tables.map((t) => [t.name, t]))
  const out: TableComparison[] = []
  for (const table of verified.tables) {
    props.onProgress?.({phase: 'compare', table: table.table, rows: verified.rows, totalRows: verified.rows})
    const restored = await tableChecksum(trx, asBackedUp(table, byName.get(table.table)))
    const backup = {rows: table.rows, sha256: table.sha256}
    out.push({
      name: table.table,
      backup,
      restored,
      matches: restored.sha256 === backup.sha256 && restored.rows === backup.rows,
    })
  }
  const different = out.filter((t) => !t.matches)
  if (different.length > 0) {
    throw new AedbError(
      `The restored tables differ from the backup (${different.map((t) => `${t.name}: ${t.restored.rows} rows restored of ${t.backup.rows}`).join('; ')}); nothing was kept.`,
      {
        code: 'RESTORE_MISMATCH',
        exit: EXIT.PROBLEMS,
        suggestions: ['This is a bug in aedb; please report it with the backup file if you can share it.'],
      },
    )
  }
  return out
}

/** The restored table read with the backup's column list and key, so its lines are comparable with the file's. */
function asBackedUp(table: TableHeader, target: OwnedTable | undefined): OwnedTable {
  const collatable = new Map(target?.columns.map((c) => [c.name, c.collatable]))
  return {
    name: table.table,
    columns: table.columns.map((c) => ({...c, identity: false, collatable: collatable.get(c.name) ?? false})),
    primaryKey: table.primaryKey,
    references: [],
  }
}

/** The migrations to apply after loading: those of this aedb newer than the backup. Refuses a newer backup. */
function planMigrations(verified: VerifiedBackup, migrations: readonly NamedMigration[]): NamedMigration[] {
  const known = migrations.map((m) => m.name)
  const names = verified.header.migrations.map((m) => m.name)
  const isPrefix = names.every((name, i) => known[i] === name)
  if (!isPrefix) {
    const unknown = names.filter((n) => !known.includes(n))
    throw new AedbError(
      `${verified.file} has schema version ${verified.header.schemaVersion} (written by aedb ${verified.header.aedbVersion}), which this aedb does not know${unknown.length > 0 ? ` (${unknown.join(', ')})` : ''}. Nothing was written.`,
      {
        code: 'BACKUP_TOO_NEW',
        exit: EXIT.USAGE,
        suggestions: [`Restore it with aedb ${verified.header.aedbVersion} or newer.`],
      },
    )
  }
  return migrations.slice(names.length)
}

async function warnEditedMigrations(
  verified: VerifiedBackup,
  migrations: readonly NamedMigration[],
  onWarning?: (message: string) => void,
): Promise<void> {
  const byName = new Map(migrations.map((m) => [m.name, m]))
  for (const m of verified.header.migrations) {
    const mine = byName.get(m.name)
    if (mine && (await migrationChecksum(mine)) !== m.checksum) {
      onWarning?.(`Migration ${m.name} differs from the one the backed-up database applied (checksum).`)
    }
  }
}

function notEmpty(contents: Record<string, number>): AedbError {
  const summary = Object.entries(contents)
    .map(([t, n]) => `${t}: ${n}`)
    .join(', ')
  return new AedbError(`The target database is not empty (${summary}). Nothing was written.`, {
    code: 'RESTORE_TARGET_NOT_EMPTY',
    exit: EXIT.USAGE,
    suggestions: [
      'Restore into a new database, or pass --force to replace everything in it (all or nothing).',
    ],
  })
}
