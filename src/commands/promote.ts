import {Flags} from '@oclif/core'
import {type PromoteResult, promoteDatabase} from '../backup/promote-database.js'
import {describeRestoreProgress} from '../backup/restore-backup.js'
import {AedbCommand} from '../base-command.js'
import {parseDatabaseUrl} from '../db/database-url.js'
import {MIGRATIONS} from '../db/migrations.js'
import {createProgressLine} from '../progress-line.js'
import {renderTable} from '../render-table.js'

export default class Promote extends AedbCommand {
  static override summary = 'Move the embedded database to a PostgreSQL server in one step.'

  static override description =
    `Backs up the database (the embedded one unless --database-url says otherwise) to a temporary file, restores it into the server database given by --to (created when missing and your role may; refused if it already holds data, unless --force), compares every table on both sides (row count and content checksum) and prints the line to put in .env so aedb uses the server from now on. The embedded database is left as it was. See docs/backup.md.`

  static override examples = [
    {
      description: 'Move the embedded database to the lab server.',
      command: '<%= config.bin %> <%= command.id %> --to postgresql://lab@db.example.org/aedb',
    },
    {
      description: 'Same, with a JSON report (the password is redacted in it).',
      command: '<%= config.bin %> <%= command.id %> --to postgresql://lab:secret@db.example.org/aedb --json',
    },
  ]

  static override flags = {
    to: Flags.string({summary: 'Server database to move to: postgresql://user@host/db.', required: true}),
    force: Flags.boolean({summary: 'Replace everything in a server database that already holds data.'}),
  }

  async run(): Promise<PromoteResult> {
    const {flags} = await this.parse(Promote)
    const source = this.databaseTarget(flags['database-url'])
    const to = parseDatabaseUrl(flags.to, '--database-url')
    const progress = createProgressLine({enabled: !flags.quiet && !this.jsonEnabled()})
    const result = await promoteDatabase({
      source,
      to,
      migrations: MIGRATIONS,
      version: this.config.version,
      argv: this.argv,
      force: flags.force,
      onBackupProgress: (p) => progress.update(`backup: ${p.table} ${p.rows} rows`),
      onRestoreProgress: (p) => progress.update(describeRestoreProgress(p)),
      onWarning: (message) => progress.interrupt(`warning: ${message}`),
    })
    progress.done()
    if (!this.jsonEnabled() && !flags.quiet) {
      const rows = result.restore.tables.map((t) => [
        t.name,
        String(t.backup.rows),
        String(t.restored.rows),
        t.matches ? 'same' : 'DIFFERENT',
      ])
      this.log(renderTable(['table', result.source, result.target, 'content'], rows))
      this.log(`\nMoved ${result.restore.rows} rows. To use the server from now on, put this line in .env:`)
      this.log(`  ${result.envLine}`)
      if (result.passwordRedacted) this.log('(write the real password where *** is)')
    }
    return result
  }
}
