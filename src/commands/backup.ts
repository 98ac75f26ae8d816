import {Args, Flags} from '@oclif/core'
import type {Kysely} from 'kysely'
import {type BackupResult, writeBackup} from '../backup/write-backup.js'
import {AedbCommand} from '../base-command.js'
import {withDatabase} from '../db/connection.js'
import {MIGRATIONS} from '../db/migrations.js'
import {finishRun, startRun} from '../db/runs.js'
import type {Database} from '../db/schema.js'
import {createProgressLine} from '../progress-line.js'

export default class Backup extends AedbCommand {
  static override summary = 'Write a portable, compressed, checksummed backup of the whole database.'

  static override description =
    `Writes everything aedb owns (schema version, every table including runs and the audit log) from one consistent snapshot as a gzip-compressed stream of JSON lines, with a manifest (aedb version, schema version, row count and SHA-256 per table) and FILE.sha256 beside it (sha256sum format). The same command and format work on the embedded database and on PostgreSQL, and \`aedb restore\` reads the file into either; no PostgreSQL client tools are needed. The file appears only when complete (written under a temporary name, then renamed). See docs/backup.md.`

  static override examples = [
    {
      description: 'Back up the embedded database.',
      command: '<%= config.bin %> <%= command.id %> aedb-2026-12-01.aedb.gz',
    },
    {
      description: 'Back up a server database, replacing last night’s file; JSON summary on stdout.',
      command:
        '<%= config.bin %> <%= command.id %> /backups/aedb.aedb.gz --force --json --database-url postgresql://lab@db.example.org/aedb',
    },
  ]

  static override args = {
    file: Args.string({
      description: 'Backup file to write (FILE.sha256 is written beside it).',
      required: true,
    }),
  }

  static override flags = {
    force: Flags.boolean({summary: 'Replace FILE if it exists.'}),
  }

  async run(): Promise<BackupResult> {
    const {args, flags} = await this.parse(Backup)
    const target = this.databaseTarget(flags['database-url'])
    const progress = createProgressLine({enabled: !flags.quiet && !this.jsonEnabled()})
    const result = await withDatabase(
      target,
      async ({db, backend, withCopySession}) => {
        const written = await writeBackup({
          db,
          withCopySession,
          backend,
          file: args.file,
          migrations: MIGRATIONS,
          version: this.config.version,
          overwrite: flags.force,
          onProgress: (p) =>
            progress.update(`backup: ${p.table} (${p.tableIndex + 1}/${p.tableCount}) ${p.rows} rows`),
          onWarning: (message) => progress.interrupt(`warning: ${message}`),
        })
        // After the snapshot, so a restored database never shows its own backup as still running.
        await this.recordRun(db, written).catch((error: Error) =>
          progress.interrupt(
            `warning: the backup is complete but its run was not recorded: ${error.message}`,
          ),
        )
        return written
      },
      {mustExist: true},
    )
    progress.done()
    if (!this.jsonEnabled() && !flags.quiet) {
      this.log(
        `Backed up ${target.redacted} (schema ${result.schemaVersion}): ${result.tables.length} tables, ${result.rows} rows.`,
      )
      this.log(`${result.file} (${result.bytes} bytes), SHA-256 in ${result.sha256File}`)
    }
    return result
  }

  /** Recorded after the snapshot; a database whose schema predates the `backup` run command simply gets none. */
  private async recordRun(db: Kysely<Database>, written: BackupResult): Promise<void> {
    const runId = await startRun({db, command: 'backup', argv: this.argv, version: this.config.version})
    await finishRun(db, runId, 'succeeded', {rows: written.rows, bytes: written.bytes})
  }
}
