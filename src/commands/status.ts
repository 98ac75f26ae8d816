import {AedbCommand} from '../base-command.js'
import {withDatabase} from '../db/connection.js'
import {type DatabaseStatus, getDatabaseStatus} from '../db/database-status.js'
import {MIGRATIONS} from '../db/migrations.js'
import {renderRunCounts} from '../render-run-counts.js'
import {renderTable} from '../render-table.js'

export default class Status extends AedbCommand {
  static override summary =
    'Show what is in the database: schema, row counts, files and the last run of each command.'

  static override description =
    `Read-only. Prints the backend, where the database is (password redacted), the schema version and any pending migrations, the rows of every table (the catalog's estimate, marked ~, for tables of more than a million rows, so it stays quick on a large database), the files aedb knows (count, bytes, missing) and the last run of each command with its outcome and counts.`

  static override examples = [
    {description: 'Look at the configured database.', command: '<%= config.bin %> <%= command.id %>'},
    {
      description: 'The same as JSON, for a monitoring script.',
      command: '<%= config.bin %> <%= command.id %> --json',
    },
  ]

  async run(): Promise<DatabaseStatus> {
    const {flags} = await this.parse(Status)
    const target = this.databaseTarget(flags['database-url'])
    const status = await withDatabase(
      target,
      ({db, backend, location}) => getDatabaseStatus({db, backend, location, migrations: MIGRATIONS}),
      {mustExist: true},
    )
    if (!this.jsonEnabled() && !flags.quiet) this.log(renderStatus(status))
    return status
  }
}

function renderStatus(s: DatabaseStatus): string {
  const estimated = new Set(s.estimated)
  const tables = Object.entries(s.tables).map(([t, n]) => [t, `${estimated.has(t) ? '~' : ''}${n}`])
  const runs = s.lastRuns.map((r) => [
    r.command,
    r.startedAt,
    r.outcome,
    r.runId.slice(0, 8),
    renderRunCounts(r.counts),
  ])
  return [
    `backend:        ${s.backend}`,
    `location:       ${s.location}`,
    `schema version: ${s.schemaVersion ?? '(none)'}`,
    `pending:        ${s.pending.length === 0 ? 'none' : s.pending.join(', ')}`,
    `files:          ${s.files.count} (${(s.files.bytes / 1048576).toFixed(1)} MiB), ${s.files.missing} missing`,
    '',
    renderTable(['table', 'rows'], tables),
    ...(s.estimated.length > 0 ? ['~ estimated from the catalog (pg_class.reltuples), not counted'] : []),
    '',
    s.lastRuns.length === 0
      ? 'No runs yet.'
      : renderTable(['last run of', 'started', 'outcome', 'run', 'counts'], runs),
  ].join('\n')
}
