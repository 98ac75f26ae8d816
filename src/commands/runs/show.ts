import {Args} from '@oclif/core'
import {AedbCommand} from '../../base-command.js'
import {withDatabase} from '../../db/connection.js'
import {type ShowRunResult, showRun} from '../../db/show-run.js'
import {renderTable} from '../../render-table.js'

export default class RunsShow extends AedbCommand {
  static override summary =
    'Show one run: its counts, what it rejected and warned about, and what it changed.'

  static override description =
    `The changes come from the audit log: rows inserted, updated and deleted per table. Rejections and warnings are those the run stored when it finished. The id may be shortened to its first characters.`

  static override examples = [
    {
      description: 'One run, by the id `aedb runs` printed.',
      command: '<%= config.bin %> <%= command.id %> 5c947215',
    },
    {description: 'As JSON.', command: '<%= config.bin %> <%= command.id %> 5c947215 --json'},
  ]

  static override args = {
    id: Args.string({description: 'The run id, or its first characters.', required: true}),
  }

  async run(): Promise<ShowRunResult> {
    const {args, flags} = await this.parse(RunsShow)
    const target = this.databaseTarget(flags['database-url'])
    const run = await withDatabase(target, ({db}) => showRun({db, id: args.id}), {mustExist: true})
    if (!this.jsonEnabled() && !flags.quiet) this.log(renderRun(run))
    return run
  }
}

function renderRun(r: ShowRunResult): string {
  const where = (m: ShowRunResult['rejected'][number]) =>
    [m.file, m.sheet, m.row === null ? null : `row ${m.row}`, m.column].filter((p) => p !== null).join(' > ')
  const changes = Object.entries(r.changes).map(([t, c]) => [
    t,
    String(c.inserted),
    String(c.updated),
    String(c.deleted),
  ])
  return [
    `run:       ${r.runId}`,
    `command:   aedb ${r.command} ${r.arguments.join(' ')}`.trimEnd(),
    `started:   ${r.startedAt} on ${r.hostname ?? '?'} (pid ${r.pid ?? '?'}, aedb ${r.aedbVersion})`,
    `finished:  ${r.finishedAt ?? '(still running)'}${r.durationS === null ? '' : `, ${r.durationS.toFixed(1)} s`}`,
    `outcome:   ${r.outcome}`,
    `counts:    ${JSON.stringify(r.counts)}`,
    '',
    changes.length === 0
      ? 'Changed nothing.'
      : renderTable(['table', 'inserted', 'updated', 'deleted'], changes),
    ...(r.rejected.length > 0 ? ['', `Rejected (${r.rejected.length}):`] : []),
    ...r.rejected.map((m) => `  ${where(m)}: ${m.message} [${m.code}]`),
    ...(r.warnings.length > 0 ? ['', `Warnings (${r.warnings.length}):`] : []),
    ...r.warnings.map((m) => `  ${where(m)}: ${m.message} [${m.code}]`),
  ].join('\n')
}
