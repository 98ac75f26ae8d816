import path from 'node:path'
import {Args, Flags} from '@oclif/core'
import {AedbCommand} from '../base-command.js'
import {withDatabase} from '../db/connection.js'
import {AedbError, EXIT} from '../errors.js'
import {type ExportExcelResult, type ExportLayout, exportExcel} from '../export/export-excel.js'
import {LEGACY_VERSIONS, type LegacyVersion} from '../export/legacy-headers.js'
import {EXPORTABLE_TABLES} from '../export/table-queries.js'
import {STUDY_NAMES, type StudyName} from '../importers/excel/parse-log.js'
import {createProgressLine} from '../progress-line.js'
import {renderExportSummary} from '../render-export-summary.js'

export default class ExportExcel extends AedbCommand {
  static override summary = 'Export the database to Excel: one typed workbook, or the legacy processing logs.'

  static override description =
    `--layout tables (default) writes one .xlsx: a README sheet, then one sheet per table with rows for the filter (typed cells, real dates, frozen header, autofilter, list validations; values kept verbatim from legacy files as extra columns under their legacy names).

--layout legacy writes a folder of knee-study processing logs in the layout of --legacy-version (v1-v4): <study>/#<id>/<Knee> Knee/<Maneuver>/processing_log_….xlsx and knee_processing_log_….xlsx, with the legacy sheets, headers and cells; backfill-excel on it changes nothing (a log exported in an older layout than it was imported from is refused there with OLDER_LAYOUT: that layout has no place for some of its columns).

Text is never written as a formula. An existing file or non-empty folder is refused (exit 2) unless --force; the output is written under a temporary name and renamed when complete.`

  static override examples = [
    {description: 'Everything, one workbook.', command: '<%= config.bin %> <%= command.id %> out.xlsx'},
    {
      description: 'Two participants of the AOA study, cycles and syncs only.',
      command:
        '<%= config.bin %> <%= command.id %> aoa.xlsx --study AOA --participant 1011 --participant 1013 --tables movement_cycles --tables synchronizations',
    },
    {
      description: 'The processing logs in the v4 legacy layout, for the old scripts.',
      command: '<%= config.bin %> <%= command.id %> logs/ --layout legacy --legacy-version v4',
    },
    {
      description: 'Say what would be written, as JSON.',
      command: '<%= config.bin %> <%= command.id %> out.xlsx --profile h4n --dry-run --json',
    },
  ]

  static override args = {
    output: Args.string({
      description: 'The .xlsx file (tables) or folder (legacy) to write.',
      required: true,
    }),
  }

  static override flags = {
    layout: Flags.string({summary: 'What to write.', options: ['tables', 'legacy'], default: 'tables'}),
    'legacy-version': Flags.string({
      summary: 'Layout of the legacy logs.',
      description: 'v4 when not given. Only with --layout legacy.',
      options: [...LEGACY_VERSIONS],
    }),
    study: Flags.string({
      summary: 'Only this study (repeatable).',
      options: [...STUDY_NAMES],
      multiple: true,
    }),
    participant: Flags.integer({
      summary: 'Only this participant number (repeatable).',
      min: 1,
      multiple: true,
    }),
    profile: Flags.string({summary: 'Only this media profile (repeatable; tables layout).', multiple: true}),
    tables: Flags.string({
      summary: 'Only these tables (repeatable; tables layout).',
      options: [...EXPORTABLE_TABLES],
      multiple: true,
    }),
    force: Flags.boolean({summary: 'Replace an existing file or non-empty folder.'}),
    'dry-run': Flags.boolean({summary: 'Count what would be written; write nothing.'}),
  }

  async run(): Promise<ExportExcelResult> {
    const {args, flags} = await this.parse(ExportExcel)
    checkLayoutOptions(args.output, flags)
    const progress = createProgressLine({enabled: !flags.quiet && !this.jsonEnabled()})
    const result = await withDatabase(
      this.databaseTarget(flags['database-url']),
      ({db, location, copyOut}) =>
        exportExcel({
          db,
          ...(copyOut ? {copyOut} : {}),
          output: args.output,
          layout: flags.layout as ExportLayout,
          legacyVersion: (flags['legacy-version'] ?? 'v4') as LegacyVersion,
          filter: {
            studies: flags.study as StudyName[],
            participants: flags.participant,
            profiles: flags.profile,
          },
          ...(flags.tables ? {tables: flags.tables} : {}),
          force: flags.force,
          dryRun: flags['dry-run'],
          source: {database: location, aedbVersion: this.config.version},
          run: {argv: this.argv, version: this.config.version},
          onProgress: (p) => progress.update(`${p.done}/${p.total} ${p.current}, ${p.rows} rows`),
        }),
      {mustExist: true},
    )
    progress.done()
    if (!this.jsonEnabled() && !flags.quiet) this.log(renderExportSummary(result, flags['dry-run']))
    return result
  }
}

interface LayoutOptions {
  layout: string
  'legacy-version'?: string | undefined
  profile?: string[] | undefined
  tables?: string[] | undefined
}

/**
 * Flags that mean nothing for the chosen layout, and an output name that promises another format, are refused
 * (exit 2) rather than silently ignored: the user would otherwise get a file other than the one asked for.
 */
function checkLayoutOptions(output: string, flags: LayoutOptions): void {
  const other = flags.layout === 'legacy' ? 'tables' : 'legacy'
  const misplaced =
    flags.layout === 'legacy'
      ? [flags.tables && '--tables', flags.profile && '--profile']
      : [flags['legacy-version'] && '--legacy-version']
  const named = misplaced.filter((flag): flag is string => typeof flag === 'string')
  if (named.length > 0)
    throw usageError(
      `${named.join(' and ')} ${named.length > 1 ? 'apply' : 'applies'} to --layout ${other} only; this export is --layout ${flags.layout}.`,
      [`Drop ${named.join(' and ')}, or add --layout ${other}.`],
    )
  const extension = path.extname(output).toLowerCase()
  if (flags.layout === 'tables' && extension !== '.xlsx')
    throw usageError(
      `--layout tables writes one Excel workbook, so the output must end in .xlsx; got ${output}.`,
      [
        `Name it ${path.basename(output, path.extname(output))}.xlsx, or add --layout legacy to write a folder of logs.`,
      ],
    )
  if (flags.layout === 'legacy' && extension === '.xlsx')
    throw usageError(`--layout legacy writes a folder of workbooks, not one file; got ${output}.`, [
      `Name a folder (logs/), or drop --layout legacy to write one workbook.`,
    ])
}

function usageError(message: string, suggestions: string[]): AedbError {
  return new AedbError(message, {code: 'USAGE', exit: EXIT.USAGE, suggestions})
}
