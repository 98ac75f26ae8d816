import {Args, Flags} from '@oclif/core'
import {AedbCommand} from '../base-command.js'
import {withDatabase} from '../db/connection.js'
import {MIGRATIONS} from '../db/migrations.js'
import {
  getMigrationStatus,
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
    {description: 'Revert the newest migration.', command: '<%= config.bin %> <%= command.id %> down'},
    {
      description: 'Revert everything (empty schema).',
      command: '<%= config.bin %> <%= command.id %> down --to base',
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
    'dry-run': Flags.boolean({summary: 'Print the SQL that would run; change nothing.'}),
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
        const result =
          args.action === 'down'
            ? await migrateDown({
                ...common,
                ...(flags.to ? {to: flags.to} : {}),
                ...(flags.steps ? {steps: flags.steps} : {}),
              })
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

  private printStatus(location: string, status: MigrationStatus): void {
    this.log(`database: ${location}`)
    for (const a of status.applied) this.log(`  applied  ${a.name}  ${a.appliedAt}`)
    for (const p of status.pending) this.log(`  pending  ${p}`)
    for (const p of status.problems) this.log(`  PROBLEM  ${p.kind}: ${p.message}`)
    if (status.applied.length + status.pending.length === 0) this.log('  (no migrations)')
  }
}
