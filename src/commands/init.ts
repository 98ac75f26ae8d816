import {Flags} from '@oclif/core'
import {AedbCommand} from '../base-command.js'
import {type InitDatabaseResult, initDatabase} from '../db/init-database.js'
import {MIGRATIONS} from '../db/migrations.js'
import {EXIT} from '../errors.js'
import {renderTable} from '../render-table.js'

export default class Init extends AedbCommand {
  static override summary =
    'Create the database if it does not exist, apply migrations, and report its state.'

  static override description =
    `Creates what is missing (the embedded PGlite folder, or the database on a server when your role may), applies every pending migration and reports the backend, where the database is (password redacted), the schema version, pending migrations and row counts per table.

With --check nothing is created or changed: it only reports, and exits 4 when the database is unreachable or its schema is behind.`

  static override examples = [
    {
      description: 'Set up the embedded database in the data directory.',
      command: '<%= config.bin %> <%= command.id %>',
    },
    {
      description: 'Set up a PostgreSQL server database (created when missing).',
      command: '<%= config.bin %> <%= command.id %> --database-url postgresql://lab@db.example.org/aedb',
    },
    {
      description: 'Only check, for monitoring; JSON on stdout.',
      command: '<%= config.bin %> <%= command.id %> --check --json',
    },
  ]

  static override flags = {
    check: Flags.boolean({summary: 'Only check and report; change nothing.'}),
  }

  async run(): Promise<InitDatabaseResult> {
    const {flags} = await this.parse(Init)
    const target = this.databaseTarget(flags['database-url'])
    const result = await initDatabase({
      target,
      migrations: MIGRATIONS,
      check: flags.check,
      version: this.config.version,
      argv: this.argv,
      onProgress: (message) => this.note(flags.quiet, message),
    })
    if (!this.jsonEnabled() && !flags.quiet) {
      this.log(`backend:        ${result.backend}`)
      this.log(`location:       ${result.location}${result.created ? ' (created)' : ''}`)
      this.log(`schema version: ${result.schemaVersion ?? '(none)'}`)
      this.log(`pending:        ${result.pending} migration(s)`)
      for (const problem of result.problems) this.log(`problem:        ${problem.message}`)
      this.log('')
      this.log(
        renderTable(
          ['table', 'rows'],
          Object.entries(result.tables).map(([t, n]) => [t, String(n)]),
        ),
      )
    }
    if (flags.check && (result.pending > 0 || result.problems.length > 0)) {
      process.exitCode = EXIT.DATABASE
      this.note(
        flags.quiet,
        'The schema is behind or has drifted: run `aedb migrate` (see `aedb migrate status`).',
      )
    }
    return result
  }
}
