import {Args, Flags} from '@oclif/core'
import {describeRestoreProgress, type RestoreResult, restoreBackup} from '../backup/restore-backup.js'
import {AedbCommand} from '../base-command.js'
import {MIGRATIONS} from '../db/migrations.js'
import {createProgressLine} from '../progress-line.js'

export default class Restore extends AedbCommand {
  static override summary =
    'Restore a backup written by `aedb backup` into an empty database, all or nothing.'

  static override description =
    `Checks the file's SHA-256 against FILE.sha256 and its format and version first. Then, in one transaction: creates the schema at the backup's version, reads the file once, checking every line and table checksum as it loads the rows with triggers off (the audit log and updated_at are restored as they were, not rewritten), compares every table with the backup, and migrates an older backup to this aedb's schema. A damaged, truncated or edited file is refused (exit 3) with nothing written: the transaction is rolled back, and a database the restore created is removed. A database that already holds data is refused (exit 2) unless --force, which replaces everything in it, also all or nothing. A backup newer than this aedb is refused (exit 2) naming the aedb version to use. Works into the embedded database or a server, from a backup of either.`

  static override examples = [
    {
      description: 'Restore into a new embedded database folder.',
      command: '<%= config.bin %> <%= command.id %> aedb-2026-12-01.aedb.gz --database-url pglite:./restored',
    },
    {
      description: 'Replace the content of a server database with the backup.',
      command:
        '<%= config.bin %> <%= command.id %> aedb-2026-12-01.aedb.gz --force --database-url postgresql://lab@db.example.org/aedb',
    },
  ]

  static override args = {
    file: Args.string({description: 'Backup file written by `aedb backup`.', required: true}),
  }

  static override flags = {
    force: Flags.boolean({
      summary: 'Replace everything in a database that already holds data (all or nothing).',
    }),
  }

  async run(): Promise<RestoreResult> {
    const {args, flags} = await this.parse(Restore)
    const target = this.databaseTarget(flags['database-url'])
    const progress = createProgressLine({enabled: !flags.quiet && !this.jsonEnabled()})
    let announced = false
    const result = await restoreBackup({
      target,
      file: args.file,
      migrations: MIGRATIONS,
      version: this.config.version,
      argv: this.argv,
      force: flags.force,
      onProgress: (p) => {
        if (p.phase === 'load' && !announced) {
          announced = true
          this.note(
            flags.quiet,
            `loading rows from ${(p.fileBytes / 1048576).toFixed(1)} MiB of backup into ${target.redacted}`,
          )
        }
        progress.update(describeRestoreProgress(p))
      },
      onWarning: (message) => progress.interrupt(`warning: ${message}`),
    })
    progress.done()
    if (!this.jsonEnabled() && !flags.quiet) {
      this.log(
        `Restored ${result.rows} rows in ${result.tables.length} tables into ${result.location}${result.replaced ? ' (replacing its content)' : ''}; every table matches the backup.`,
      )
      this.log(
        `backup: aedb ${result.backup.aedbVersion}, schema ${result.backup.schemaVersion}, ${result.backup.createdAt}`,
      )
      if (result.migrationsApplied.length > 0) this.log(`then migrated to ${result.schemaVersion}`)
    }
    return result
  }
}
