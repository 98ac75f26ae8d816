import {Args, Flags} from '@oclif/core'
import {AedbCommand} from '../base-command.js'
import {confirmDataLoss} from '../confirm-data-loss.js'
import {describeDataLoss} from '../db/assess-data-loss.js'
import {withDatabase} from '../db/connection.js'
import {MIGRATIONS} from '../db/migrations.js'
import {
  getMigrationStatus,
  type MigrateDownProps,
  type MigrateResult,
  type MigrationStatus,
  migrateDown,
  migrateUp,
} from '../db/migrator.js'
import {finishRun, startRun} from '../db/runs.js'
import {EXIT} from '../errors.js'

export default class Migrate extends AedbCommand {
  static override summary = 'Apply, revert or list schema migrations.'

  static override description =
    `up (the default) applies pending migrations, down reverts applied ones, status lists applied and pending migrations and any problems: a migration edited or removed after it was applied, or a new one older than the newest applied. Problems block up until resolved.

down destroys data: reverting the first migration drops every table with all its rows, the audit log and the record of runs included, and other migrations' down may drop columns or delete rows. On a database where it would destroy any row, down refuses and lists each table with its row count, unless --force is given (on a terminal it asks you to type "drop" instead). Back up first.

Each migration runs in its own transaction, and only one migration run proceeds at a time (a PostgreSQL advisory lock; a second run waits up to --lock-timeout and then names the holder). --dry-run prints the SQL and changes nothing, not even the bookkeeping table.`

  static override examples = [
    {description: 'Apply every pending migration.', command: '<%= config.bin %> <%= command.id %>'},
    {
      description: 'Show what is applied and pending, as JSON.',
      command: '<%= config.bin %> <%= command.id %> status --json',
    },
    {
      description: 'Print the SQL up would run, change nothing.',
      command: '<%= config.bin %> <%= command.id %> up --dry-run',
    },
    {
      description: 'Revert the newest migration (refused if that would destroy rows).',
      command: '<%= config.bin %> <%= command.id %> down',
    },
    {
      description: 'Revert everything: drops every table and all the data in it.',
      command: '<%= config.bin %> <%= command.id %> down --to base --force',
    },
  ]

  static override args = {
    action: Args.string({
      description: 'What to do.',
      options: ['up', 'down', 'status'] as const,
      default: 'up',
    }),
  }

  static override flags = {
    to: Flags.string({
      summary:
        'Up: apply up to and including this migration. Down: revert everything after it (`base` reverts all).',
    }),
    steps: Flags.integer({summary: 'Down: how many migrations to revert.', min: 1, exclusive: ['to']}),
    'dry-run': Flags.boolean({
      summary: 'Print the SQL that would run and the rows down would destroy; change nothing.',
    }),
    force: Flags.boolean({summary: 'Down: revert even when that drops or deletes rows.'}),
    'lock-timeout': Flags.integer({
      summary: 'Seconds to wait for another migration run to finish.',
      default: 30,
      min: 0,
    }),
  }

  async run(): Promise<MigrateResult | MigrationStatus> {
    const {args, flags} = await this.parse(Migrate)
    const target = this.databaseTarget(flags['database-url'])
    // Only `up` may create an embedded database folder: status, down and --dry-run look at what is there.
    const mustExist = args.action !== 'up' || flags['dry-run']
    return withDatabase(
      target,
      async ({db, location}) => {
        if (args.action === 'status') {
          const status = await getMigrationStatus(db, MIGRATIONS)
          if (!this.jsonEnabled() && !flags.quiet) this.printStatus(location, status)
          if (status.problems.length > 0) process.exitCode = EXIT.PROBLEMS
          return status
        }
        const common = {
          db,
          migrations: MIGRATIONS,
          dryRun: flags['dry-run'],
          lockTimeoutMs: flags['lock-timeout'] * 1000,
          onProgress: ({name, direction}: {name: string; direction: string}) =>
            this.note(flags.quiet, `${direction === 'up' ? 'applying' : 'reverting'} ${name}`),
        }
        const down = {
          ...common,
          ...(flags.to ? {to: flags.to} : {}),
          ...(flags.steps ? {steps: flags.steps} : {}),
        }
        const force =
          flags.force || (args.action === 'down' && (await this.confirmOnTerminal(down, location)))
        const result =
          args.action === 'down'
            ? await migrateDown({...down, force})
            : await migrateUp({...common, ...(flags.to ? {to: flags.to} : {})})
        if (!result.dryRun && result.status.applied.length > 0) {
          const runId = await startRun({
            db,
            command: 'migrate',
            argv: this.argv,
            version: this.config.version,
          })
          await finishRun(db, runId, 'succeeded', {[result.direction]: result.steps.length})
        }
        if (!this.jsonEnabled() && !flags.quiet) {
          if (result.dryRun) {
            for (const step of result.steps) {
              this.log(`-- ${step.direction}: migrations/${step.name}.ts`)
              for (const statement of step.sql) this.log(`${statement};\n`)
            }
            for (const loss of result.steps.flatMap((s) => s.dataLoss ?? [])) {
              this.log(`would ${describeDataLoss(loss)} (${loss.migration})`)
            }
          }
          const verb = result.dryRun ? 'would' : ''
          const done = result.direction === 'up' ? 'apply' : 'revert'
          this.log(
            result.steps.length === 0
              ? `Nothing to ${done}: ${location} is ${result.direction === 'up' ? 'up to date' : 'at base'}.`
              : `${result.dryRun ? `Dry run: ${verb} ${done}` : result.direction === 'up' ? 'Applied' : 'Reverted'} ${result.steps.length} migration(s) on ${location}.`,
          )
        }
        return result
      },
      {mustExist},
    )
  }

  /** On an interactive terminal, a down that would destroy rows asks for "drop" instead of needing --force. */
  private async confirmOnTerminal(down: MigrateDownProps, location: string): Promise<boolean> {
    if (!process.stdin.isTTY || !process.stderr.isTTY || this.jsonEnabled() || down.dryRun) return false
    const plan = await migrateDown({...down, dryRun: true})
    const losses = plan.steps.flatMap((s) => s.dataLoss ?? [])
    return losses.length > 0 && (await confirmDataLoss(location, losses))
  }

  private printStatus(location: string, status: MigrationStatus): void {
    this.log(`database: ${location}`)
    for (const a of status.applied) this.log(`  applied  ${a.name}  ${a.appliedAt}`)
    for (const p of status.pending) this.log(`  pending  ${p}`)
    for (const p of status.problems) this.log(`  PROBLEM  ${p.kind}: ${p.message}`)
    if (status.applied.length + status.pending.length === 0) this.log('  (no migrations)')
  }
}
