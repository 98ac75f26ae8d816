import path from 'node:path'
import type {Kysely} from 'kysely'
import {type Backend, withDatabase} from '../db/connection.js'
import type {CopySession} from '../db/copy-session.js'
import type {DatabaseTarget} from '../db/database-url.js'
import {dropCreatedDatabase} from '../db/drop-database.js'
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
import {copyStatement, copyTextRows} from './copy-text.js'
import {disableTriggers, enableTriggers, resetIdentities} from './load-rows.js'
import {type OwnedTable, readOwnedTables} from './owned-tables.js'
import {
  type BackupEntry,
  type BackupStart,
  type CheckedTable,
  invalidBackup,
  openBackup,
  readBackup,
} from './read-backup.js'
import {applyMigration, lockMigrations, prepareSchema, targetContents} from './restore-schema.js'
import {BlockDigest, tableDigest} from './table-digest.js'
import {applyBackupSession} from './table-lines.js'

export type RestorePhase = 'verify' | 'schema' | 'load' | 'compare' | 'migrate'

export interface RestoreProgress {
  phase: RestorePhase
  table?: string
  /** Rows loaded so far. */
  rows: number
  /** Compressed bytes of the file read so far, of fileBytes (the row count is known only at the file's end). */
  bytesRead: number
  fileBytes: number
}

/** The progress line: `restore: load audit_log 12000 rows (45% of the file)`. */
export function describeRestoreProgress(p: RestoreProgress): string {
  const percent = p.fileBytes > 0 ? ` (${Math.floor((100 * p.bytesRead) / p.fileBytes)}% of the file)` : ''
  return `restore: ${p.phase}${p.table ? ` ${p.table}` : ''} ${p.rows} rows${p.phase === 'load' ? percent : ''}`
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
  /** Row count and SHA-256 from the backup's manifest, and the BlockDigest of its lines. */
  backup: TableManifest & {digest: string}
  /** Row count and BlockDigest of the table as restored, computed by the database. */
  restored: {rows: number; digest: string}
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
 * file's SHA-256 and header are checked before the database is opened; then schema, rows (read, checked and loaded
 * with COPY in one pass over the file), the table-by-table comparison and the upgrade to this aedb's schema all
 * happen in one transaction, rolled back when anything in the file turns out wrong. A database this restore created
 * is dropped again when the file is refused.
 */
export async function restoreBackup(props: RestoreBackupProps): Promise<RestoreResult> {
  const started = performance.now()
  const file = path.resolve(props.file)
  props.onProgress?.({phase: 'verify', rows: 0, bytesRead: 0, fileBytes: 0})
  const start = await openBackup(file, props.onWarning)
  const pending = planMigrations(start, props.migrations)
  await warnEditedMigrations(start, props.migrations, props.onWarning)
  let created = false
  try {
    return await withDatabase(
      props.target,
      async (open) => {
        created = open.created
        const loaded = await open.withCopySession((session) =>
          session.db
            .transaction()
            .execute((trx) => restoreInTransaction(props, {...session, db: trx}, start, pending)),
        )
        return {
          file,
          backend: open.backend,
          location: open.location,
          created: open.created,
          ...loaded,
          backup: {
            aedbVersion: start.header.aedbVersion,
            schemaVersion: start.header.schemaVersion,
            createdAt: start.header.createdAt,
            backend: start.header.backend,
            sha256: start.sha256,
          },
          durationMs: Math.round(performance.now() - started),
        }
      },
      {createDatabase: true},
    )
  } catch (error) {
    if (created && error instanceof AedbError && error.code.startsWith('BACKUP_')) {
      await dropCreatedDatabase(props.target)
    }
    throw error
  }
}

type Loaded = Pick<RestoreResult, 'replaced' | 'schemaVersion' | 'migrationsApplied' | 'tables' | 'rows'>

async function restoreInTransaction(
  props: RestoreBackupProps,
  session: CopySession,
  start: BackupStart,
  pending: NamedMigration[],
): Promise<Loaded> {
  const trx = session.db
  await lockMigrations(trx)
  await applyBackupSession(trx)
  const contents = await targetContents(trx)
  const replaced = Object.keys(contents).length > 0
  if (replaced && !props.force) throw notEmpty(contents)
  props.onProgress?.({phase: 'schema', rows: 0, bytesRead: 0, fileBytes: start.bytes})
  await prepareSchema(
    trx,
    start.header.migrations.map((m) => m.name),
    props.migrations,
  )
  const {tables} = await readOwnedTables(trx)
  const mode = await disableTriggers(trx, tables)
  const loaded = await loadRows(props, session, start, tables)
  await resetIdentities(trx, tables)
  await enableTriggers(trx, tables, mode)
  const comparison = await compareTables(props, trx, start, loaded, tables)
  for (const migration of pending) {
    props.onProgress?.({
      phase: 'migrate',
      table: migration.name,
      rows: loaded.rows,
      bytesRead: start.bytes,
      fileBytes: start.bytes,
    })
    await applyMigration(trx, migration)
  }
  await recordTargetSchema(trx, pending.at(-1)?.name ?? start.header.schemaVersion)
  const runId = await startRun({
    db: trx,
    command: props.command ?? 'restore',
    argv: props.argv ?? [],
    version: props.version,
  })
  await finishRun(trx, runId, 'succeeded', {rows: loaded.rows, tables: comparison.length})
  return {
    replaced,
    schemaVersion: pending.at(-1)?.name ?? start.header.schemaVersion,
    migrationsApplied: pending.map((m) => m.name),
    tables: comparison,
    rows: loaded.rows,
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

interface LoadedRows {
  tables: CheckedTable[]
  rows: number
  /** The BlockDigest of each table's lines in the file. */
  digests: Map<string, BlockDigest>
}

/** Reads the file once, table by table, loading each table's rows with one COPY as they are checked. */
async function loadRows(
  props: RestoreBackupProps,
  session: CopySession,
  start: BackupStart,
  tables: OwnedTable[],
): Promise<LoadedRows> {
  const byName = new Map(tables.map((t) => [t.name, t]))
  const progress = {phase: 'load' as const, table: '', rows: 0, bytesRead: 0, fileBytes: start.bytes}
  const entries = readBackup(start.file, (bytes) => {
    progress.bytesRead += bytes
  })
  const digests = new Map<string, BlockDigest>()
  try {
    for (;;) {
      const entry = await nextEntry(entries, start.file)
      if (entry.kind === 'end') return {tables: entry.tables, rows: entry.rows, digests}
      if (entry.kind !== 'table') throw invalidBackup(start.file, 'rows or a table end outside any table')
      const digest = new BlockDigest()
      digests.set(entry.header.table, digest)
      progress.table = entry.header.table
      props.onProgress?.({...progress})
      const onRows = (rows: number) => {
        progress.rows += rows
        props.onProgress?.({...progress})
      }
      const statement = copyStatement(entry.header, byName.get(entry.header.table), start.file)
      await session.copyRows(statement, tableChunks(entries, entry.header, digest, start.file, onRows))
    }
  } finally {
    await entries.return(undefined)
  }
}

async function nextEntry(entries: AsyncGenerator<BackupEntry>, file: string): Promise<BackupEntry> {
  const next = await entries.next()
  if (next.done) throw invalidBackup(file, 'the file is truncated (it ends before its trailer)')
  return next.value
}

/** One table's rows in COPY text format, a chunk per run of lines read, up to the table's (checked) end. */
async function* tableChunks(
  entries: AsyncGenerator<BackupEntry>,
  header: TableHeader,
  digest: BlockDigest,
  file: string,
  onRows: (rows: number) => void,
): AsyncGenerator<string> {
  const badLine = (): never => {
    throw invalidBackup(
      file,
      `a row of table ${header.table} is not a list of ${header.columns.length} values`,
    )
  }
  for (;;) {
    const entry = await nextEntry(entries, file)
    if (entry.kind === 'tableEnd') return
    if (entry.kind !== 'rows') throw invalidBackup(file, `table ${header.table} does not end where it should`)
    digest.add(entry.bytes, entry.count)
    yield copyTextRows(entry.bytes.toString('utf8').split('\n', entry.count), header.columns.length, badLine)
    onRows(entry.count)
  }
}

/** Compares each restored table, as the database computes its BlockDigest, with the digest of the file's lines. */
async function compareTables(
  props: RestoreBackupProps,
  trx: Kysely<Database>,
  start: BackupStart,
  loaded: LoadedRows,
  tables: OwnedTable[],
): Promise<TableComparison[]> {
  const byName = new Map(tables.map((t) => [t.name, t]))
  const out: TableComparison[] = []
  for (const table of loaded.tables) {
    props.onProgress?.({
      phase: 'compare',
      table: table.table,
      rows: loaded.rows,
      bytesRead: start.bytes,
      fileBytes: start.bytes,
    })
    const restored = await tableDigest(trx, asBackedUp(table, byName.get(table.table)))
    const backup = {rows: table.rows, sha256: table.sha256, digest: loaded.digests.get(table.table)!.digest()}
    out.push({
      name: table.table,
      backup,
      restored,
      matches: restored.digest === backup.digest && restored.rows === backup.rows,
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
function planMigrations(verified: BackupStart, migrations: readonly NamedMigration[]): NamedMigration[] {
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
  verified: BackupStart,
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
