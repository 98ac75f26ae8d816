import {Flags} from '@oclif/core'
import {AedbCommand} from '../base-command.js'
import {withDatabase} from '../db/connection.js'
import {EXIT} from '../errors.js'
import {createProgressLine} from '../progress-line.js'
import {renderQuietReport, renderVerifyReport} from '../render-verify-report.js'
import {VERIFY_CHECKS} from '../verify/finding.js'
import {type FailOn, type VerifyResult, verify} from '../verify/verify.js'
import {parseVerifyOptions} from '../verify/verify-options.js'

export default class Verify extends AedbCommand {
  static override summary = 'Check that the data and the files are still what was imported (the nightly job).'

  static override description =
    `Reads the database and the disk and changes no data: recorded files (missing, changed, moved, unreadable, appeared), imported workbooks and metadata.json (changed since import), rows (orphans, rows edited outside aedb), cross-checks (knee logs vs maneuver logs, stated vs measured sizes, stems on disk) and the schema (migration checksums, hand-made changes). Each finding is remembered, so the report says what is new and what was resolved. Exit 3 when a finding reaches --fail-on; see docs/verify.md for every code.`

  static override examples = [
    {description: 'Check everything; a table on a terminal.', command: '<%= config.bin %> <%= command.id %>'},
    {
      description: 'The nightly cron job: at most 30 minutes, page only for new errors, print only findings.',
      command: '<%= config.bin %> <%= command.id %> --time-limit 30m --fail-on new --quiet',
    },
    {
      description:
        'Re-hash every file (finds changed bytes with unchanged size and mtime), JSON for scripts.',
      command: '<%= config.bin %> <%= command.id %> --rehash --jobs 4 --json',
    },
    {
      description: 'Check a tree that moved to another disk without re-importing it.',
      command:
        '<%= config.bin %> <%= command.id %> --root-map /mnt/old/logs=/data/logs --check files,sources',
    },
  ]

  static override flags = {
    check: Flags.string({
      summary: `Checks to run, comma-separated: ${VERIFY_CHECKS.join(',')} (default all).`,
    }),
    rehash: Flags.boolean({summary: 'Re-hash every file, not only those whose size or mtime changed.'}),
    'root-map': Flags.string({
      summary: 'OLD=NEW: look for files recorded under OLD at NEW (repeatable).',
      multiple: true,
    }),
    'time-limit': Flags.string({
      summary:
        'Stop checking files after this long, in h, m, s or ms, combined as in 1h30m (30m, 90s, 500ms); the next run continues.',
    }),
    jobs: Flags.integer({
      char: 'j',
      summary: 'Threads that hash files (stat-only checks use at most one per core).',
      default: 4,
      min: 1,
      max: 64,
    }),
    'fail-on': Flags.string({
      summary: 'Exit 3 when a finding reaches: new (a new error), error (any error), warning (anything).',
      options: ['new', 'error', 'warning'],
      default: 'error',
    }),
    quiet: Flags.boolean({
      char: 'q',
      summary:
        'Print only errors, new warnings, findings that reach --fail-on, and what was resolved: nothing on a clean night.',
      helpGroup: 'GLOBAL',
    }),
    ndjson: Flags.boolean({
      summary: 'One JSON finding a line on stdout (resolved ones too), for log shippers.',
      exclusive: ['json'],
    }),
  }

  async run(): Promise<VerifyResult> {
    const {flags} = await this.parse(Verify)
    const options = parseVerifyOptions({
      check: flags.check,
      rootMap: flags['root-map'],
      timeLimit: flags['time-limit'],
    })
    const target = this.databaseTarget(flags['database-url'])
    const progress = createProgressLine({enabled: !flags.quiet && !flags.ndjson && !this.jsonEnabled()})
    const result = await withDatabase(
      target,
      ({db, location}) => {
        this.note(flags.quiet || flags.ndjson, `database: ${location}`)
        return verify({
          db,
          ...options,
          rehash: flags.rehash,
          jobs: flags.jobs,
          failOn: flags['fail-on'] as FailOn,
          argv: this.argv,
          version: this.config.version,
          onProgress: (p) =>
            progress.update(
              // The total is counted beside the first files: 0 until it is known.
              `verifying files ${p.done}${p.total > 0 ? `/${p.total}` : ''}, ${(p.bytesHashed / 1048576).toFixed(1)} MiB hashed`,
            ),
        })
      },
      {poolSize: flags.jobs + 1, mustExist: true},
    )
    progress.done()
    if (flags.ndjson) {
      for (const f of result.findings) this.log(JSON.stringify({runId: result.runId, resolved: false, ...f}))
      for (const f of result.resolved) this.log(JSON.stringify({runId: result.runId, resolved: true, ...f}))
    } else if (!this.jsonEnabled()) {
      const text = flags.quiet
        ? renderQuietReport(result, flags['fail-on'] as FailOn)
        : renderVerifyReport(result)
      if (text !== '') this.log(text)
    }
    if (!result.ok) process.exitCode = EXIT.PROBLEMS
    return result
  }
}
