import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {withDatabase} from '../db/connection.js'
import type {DatabaseTarget} from '../db/database-url.js'
import type {NamedMigration} from '../db/migrator.js'
import {AedbError, EXIT} from '../errors.js'
import {type RestoreProgress, type RestoreResult, restoreBackup} from './restore-backup.js'
import {type BackupProgress, type BackupResult, writeBackup} from './write-backup.js'

export interface PromoteDatabaseProps {
  source: DatabaseTarget
  to: DatabaseTarget
  migrations: readonly NamedMigration[]
  version: string
  argv?: readonly string[]
  force?: boolean
  onBackupProgress?: (progress: BackupProgress) => void
  onRestoreProgress?: (progress: RestoreProgress) => void
  onWarning?: (message: string) => void
}

export interface PromoteResult {
  source: string
  target: string
  backup: Omit<BackupResult, 'file' | 'sha256File'>
  restore: RestoreResult
  /** True when every table has the same row count and content checksum on both sides. */
  identical: boolean
  /** The line to put in `.env` from now on (password shown as ***: write the real one). */
  envLine: string
  passwordRedacted: boolean
}

/**
 * Moves a database (the embedded one, usually) to a server: a backup to a temporary file, a restore into the server
 * database (created when missing and the role may), and the table-by-table comparison the restore makes.
 */
export async function promoteDatabase(props: PromoteDatabaseProps): Promise<PromoteResult> {
  if (props.to.backend !== 'postgres') {
    throw new AedbError(`--to must be a PostgreSQL server URL (postgresql://…), not ${props.to.redacted}.`, {
      code: 'PROMOTE_TARGET_NOT_SERVER',
      exit: EXIT.USAGE,
      suggestions: ['To copy into another embedded database, use `aedb backup` and `aedb restore`.'],
    })
  }
  if (props.to.redacted === props.source.redacted) {
    throw new AedbError('The source and the target are the same database.', {
      code: 'PROMOTE_SAME_DATABASE',
      exit: EXIT.USAGE,
      suggestions: ['Pass the server database as --to and the database to move as --database-url.'],
    })
  }
  const folder = await mkdtemp(path.join(tmpdir(), 'aedb-promote-'))
  try {
    const file = path.join(folder, 'promote.aedb-backup.gz')
    const backup = await withDatabase(
      props.source,
      ({db, backend, withCopySession}) =>
        writeBackup({
          db,
          withCopySession,
          backend,
          file,
          migrations: props.migrations,
          version: props.version,
          ...(props.onBackupProgress ? {onProgress: props.onBackupProgress} : {}),
          ...(props.onWarning ? {onWarning: props.onWarning} : {}),
        }),
      {mustExist: true},
    )
    const restore = await restoreBackup({
      target: props.to,
      file,
      migrations: props.migrations,
      version: props.version,
      argv: props.argv ?? [],
      command: 'promote',
      force: props.force ?? false,
      ...(props.onRestoreProgress ? {onProgress: props.onRestoreProgress} : {}),
      ...(props.onWarning ? {onWarning: props.onWarning} : {}),
    })
    const {file: _file, sha256File: _sidecar, ...backupSummary} = backup
    return {
      source: props.source.redacted,
      target: restore.location,
      backup: backupSummary,
      restore,
      identical: restore.tables.every((t) => t.matches),
      envLine: `AEDB_DATABASE_URL=${props.to.redacted}`,
      passwordRedacted: props.to.redacted.includes('***'),
    }
  } finally {
    await rm(folder, {recursive: true, force: true})
  }
}
