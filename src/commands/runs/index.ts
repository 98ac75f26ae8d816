import {Flags} from '@oclif/core'
import {AedbCommand} from '../../base-command.js'
import {withDatabase} from '../../db/connection.js'
import {listRuns, type RunSummary} from '../../db/list-runs.js'
import {RUN_COMMANDS, type RunCommand} from '../../db/runs.js'
import {renderRunCounts} from '../../render-run-counts.js'
import {renderTable} from '../../render-table.js'

export default class Runs extends AedbCommand {
  static override summary =
    'List past runs: when, which command, its arguments, outcome, counts and duration.'

  static override description =
    `Every command that changes the database records a run. Newest first; passwords in the arguments are shown as ***. \`aedb runs show ID\` shows one run with what it rejected, warned about and changed.`

  static override examples = [
    {description: 'The last 20 runs.', command: '<%= config.bin %> <%= command.id %>'},
    {
      description: 'The last 5 Excel imports, as JSON.',
      command: '<%= config.bin %> <%= command.id %> --command backfill-excel --last 5 --json',
    },
  ]

  static override flags = {
    command: Flags.string({summary: 'Only runs of this command.', options: [...RUN_COMMANDS]}),
    last: Flags.integer({summary: 'How many runs to show.', default: 20, min: 1}),
  }

  async run(): Promise<{runs: RunSummary[]}> {
    const {flags} = await this.parse(Runs)
    const target = this.databaseTarget(flags['database-url'])
    const runs = await withDatabase(
      target,
      ({db}) =>
        listRuns({db, last: flags.last, ...(flags.command ? {command: flags.command as RunCommand} : {})}),
      {mustExist: true},
    )
    if (!this.jsonEnabled() && !flags.quiet) {
      this.log(
        runs.length === 0
          ? 'No runs recorded.'
          : renderTable(
              ['run', 'started', 'command', 'outcome', 'duration', 'counts', 'arguments'],
              runs.map((r) => [
                r.runId.slice(0, 8),
                r.startedAt,
                r.command,
                r.outcome,
                r.durationS === null ? '' : `${r.durationS.toFixed(1)} s`,
                renderRunCounts(r.counts),
                r.arguments.join(' '),
              ]),
            ),
      )
    }
    return {runs}
  }
}
