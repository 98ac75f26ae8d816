import {Args, Flags} from '@oclif/core'
import {AedbCommand} from '../base-command.js'
import {withDatabase} from '../db/connection.js'
import {EXIT} from '../errors.js'
import {assertPathsExist} from '../files/assert-paths-exist.js'
import {type BackfillExcelResult, backfillExcel} from '../importers/excel/backfill-excel.js'
import {WORKBOOK_PATHS_HINT} from '../importers/excel/discover-workbooks.js'
import {STUDY_NAMES} from '../importers/excel/parse-log.js'
import {createProgressLine} from '../progress-line.js'
import {renderImportSummary, renderRejection} from '../render-import-summary.js'

export default class BackfillExcel extends AedbCommand {
  static override summary =
    'Import the legacy Excel processing logs of the knee study, every layout, idempotently.'

  static override description =
    `Finds processing logs (maneuver logs and knee logs) under the given folders or files, detects each workbook's layout (v1-v4, and v5 reports), and imports every cell: typed columns where the schema has them, the rest verbatim in the row's extra jsonb, with provenance back to file, sheet and row. Each workbook is all-or-nothing: many are written per transaction, and a batch the database refuses is written again one workbook per transaction, so a bad workbook is rejected alone. Workbooks whose bytes this parser version already imported are skipped, so running again (or after a crash) is cheap and changes nothing; a workbook put back to bytes imported earlier, after other bytes of it were imported, is read again. --force reads every workbook again: rows edited outside aedb (verify's ROW_EDITED) are restored from the workbook (columns its layout lacks, from the values audit_log shows aedb imported), and files the logs reference are looked at again (FILE_APPEARED).

Bad workbooks are rejected with every problem listed as file > sheet > row > column, the others go on, and the exit code is 3.`

  static override examples = [
    {
      description: 'Import a study folder (participant folders #1011, … inside).',
      command: '<%= config.bin %> <%= command.id %> ./logs --study AOA',
    },
    {
      description: 'See what would change, without changing anything.',
      command: '<%= config.bin %> <%= command.id %> ./logs --dry-run',
    },
    {
      description:
        'Read logs again although their bytes were imported before (a workbook, or every log under a folder): restore rows edited outside aedb, pick up referenced files that appeared since.',
      command: "<%= config.bin %> <%= command.id %> --force './logs/#1011/Left Knee'",
    },
    {
      description:
        'Keep going past bad cells (NULL + warning), write rejected rows to a workbook, JSON result for scripts.',
      command: '<%= config.bin %> <%= command.id %> ./logs --coerce-invalid --rejects rejects.xlsx --json',
    },
  ]

  static override strict = false

  static override args = {
    paths: Args.string({
      description: 'Folders (searched recursively) or workbooks to import.',
      required: true,
    }),
  }

  static override flags = {
    study: Flags.string({summary: 'Study of logs that do not name one.', options: [...STUDY_NAMES]}),
    'dry-run': Flags.boolean({
      summary: 'Do everything inside a transaction that is rolled back; report what would change.',
    }),
    jobs: Flags.integer({
      char: 'j',
      summary: 'Workbooks read and written at once.',
      default: 4,
      min: 1,
      max: 64,
    }),
    'max-errors': Flags.integer({summary: 'Stop after this many rejected workbooks.', min: 1}),
    'coerce-invalid': Flags.boolean({
      summary: 'Store NULL for a cell that does not fit its column, keep the text in extra, warn.',
    }),
    force: Flags.boolean({
      summary:
        'Read and write every workbook, also those whose bytes were imported before (restores edited rows).',
    }),
    rejects: Flags.file({
      summary: 'Write rejected rows with their original cells and the reason to this .xlsx file.',
    }),
  }

  async run(): Promise<BackfillExcelResult> {
    const {argv, flags} = await this.parse(BackfillExcel)
    await assertPathsExist(argv as string[], WORKBOOK_PATHS_HINT)
    const target = this.databaseTarget(flags['database-url'])
    const progress = createProgressLine({enabled: !flags.quiet && !this.jsonEnabled()})
    const signal = this.stopOnSignals('workbook', flags.quiet, (line) => progress.interrupt(line))
    const result = await withDatabase(
      target,
      ({db, location}) => {
        this.note(flags.quiet, `database: ${location}`)
        return backfillExcel({
          db,
          paths: argv as string[],
          ...(flags.study ? {study: flags.study as (typeof STUDY_NAMES)[number]} : {}),
          dryRun: flags['dry-run'],
          jobs: flags.jobs,
          ...(flags['max-errors'] ? {maxErrors: flags['max-errors']} : {}),
          coerceInvalid: flags['coerce-invalid'],
          force: flags.force,
          ...(flags.rejects ? {rejectsFile: flags.rejects} : {}),
          argv: this.argv,
          version: this.config.version,
          signal,
          // Warnings go to stderr as they happen (also under --json, whose stdout is the one document).
          ...(flags.quiet
            ? {}
            : {
                onWarning: (w: {file: string; message: string}) =>
                  progress.interrupt(`warning: ${w.file}: ${w.message}`),
              }),
          onProgress: (p) =>
            progress.update(
              `${p.phase === 'read' ? 'reading' : 'writing'} ${p.done}/${p.total} workbooks, ${p.rows} rows, ${(p.bytesHashed / 1048576).toFixed(1)} MiB hashed`,
            ),
        })
      },
      {poolSize: flags.jobs + 1, mustExist: true},
    )
    progress.done()
    if (!this.jsonEnabled() && !flags.quiet) this.log(renderImportSummary(result, 'file'))
    else if (flags.quiet && !this.jsonEnabled()) {
      for (const r of result.rejected) process.stderr.write(`${renderRejection(r)}\n`)
    }
    // Nothing found to import is a problem too, so that cron notices a wrong or emptied folder.
    const nothingFound = result.warnings.some((w) => w.code === 'NO_LOGS_FOUND')
    if (result.rejected.length > 0 || nothingFound) process.exitCode = EXIT.PROBLEMS
    this.reportInterrupted(result, flags.quiet)
    return result
  }
}
