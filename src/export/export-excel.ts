import type {Kysely} from 'kysely'
import type {CopyOut} from '../db/connection.js'
import {MIGRATIONS} from '../db/migrations.js'
import {assertSchemaCurrent} from '../db/migrator.js'
import {finishRun, startRun} from '../db/runs.js'
import type {Database, JsonObject} from '../db/schema.js'
import {EXIT, userPathError} from '../errors.js'
import type {ExportFilter, ExportProgress, SheetCounts} from './export-types.js'
import type {LegacyVersion} from './legacy-headers.js'
import {claimOutput} from './output-target.js'
import {writeLegacyLogs} from './write-legacy-logs.js'
import {writeTablesWorkbook} from './write-tables-workbook.js'

export type ExportLayout = 'tables' | 'legacy'

export interface ExportExcelProps {
  db: Kysely<Database>
  /** An .xlsx file (tables layout) or a folder (legacy layout). */
  output: string
  layout: ExportLayout
  legacyVersion?: LegacyVersion
  filter?: Partial<ExportFilter>
  /** Only these tables (tables layout); default every table with rows. */
  tables?: string[]
  force?: boolean
  dryRun?: boolean
  /** For the README sheet: where the data came from (already redacted) and which aedb wrote it. */
  source?: {database: string; aedbVersion: string}
  onProgress?: (progress: ExportProgress) => void
  /** On PostgreSQL: read each table with `COPY ... TO STDOUT` (tables layout), see `OpenDatabase.copyOut`. */
  copyOut?: CopyOut
  /** Record the export in `runs` (not for a dry run), with these arguments and aedb version. */
  run?: {argv: readonly string[]; version: string}
}

export interface ExportExcelResult {
  path: string
  layout: ExportLayout
  sheets: SheetCounts
  /** Files written: relative to `path` for the legacy layout; the workbook's own path for tables. */
  files: string[]
  rows: number
}

/**
 * Exports the database to Excel: one typed workbook (`tables`) or the knee study's processing logs in a legacy
 * layout (`legacy`). Everything is written under a temporary name and renamed at the end.
 */
export async function exportExcel(props: ExportExcelProps): Promise<ExportExcelResult> {
  const dryRun = props.dryRun ?? false
  await assertSchemaCurrent(props.db, MIGRATIONS)
  const target = await claimOutput(
    props.output,
    props.layout === 'legacy' ? 'folder' : 'file',
    props.force ?? false,
    dryRun,
  )
  const runId =
    props.run && !dryRun
      ? await startRun({
          db: props.db,
          command: 'export-excel',
          argv: props.run.argv,
          version: props.run.version,
        })
      : null
  try {
    const written = await writeLayout(props, target.temp, dryRun)
    if (dryRun) await target.discard()
    else await target.commit()
    const result: ExportExcelResult = {
      path: target.final,
      layout: props.layout,
      sheets: written.sheets,
      files: written.files ?? [target.final],
      rows: written.rows,
    }
    if (runId) await finishRun(props.db, runId, 'succeeded', runCounts(result))
    return result
  } catch (error) {
    await target.discard()
    if (runId) await finishRun(props.db, runId, 'failed', {layout: props.layout}).catch(() => {})
    // The output's folder refused the file (permissions, a read-only disk): the path is the user's to change.
    const onOutput = String((error as {path?: unknown}).path ?? '').startsWith(target.temp)
    throw onOutput ? userPathError(error, props.output, {code: 'OUTPUT_INVALID', exit: EXIT.USAGE}) : error
  }
}

/** Writes the layout asked for under the temporary name. */
async function writeLayout(
  props: ExportExcelProps,
  temp: string,
  dryRun: boolean,
): Promise<{sheets: SheetCounts; rows: number; files?: string[]}> {
  const filter: ExportFilter = {
    studies: props.filter?.studies ?? [],
    participants: props.filter?.participants ?? [],
    profiles: props.filter?.profiles ?? [],
  }
  const onProgress = props.onProgress ? {onProgress: props.onProgress} : {}
  if (props.layout === 'legacy')
    return writeLegacyLogs({
      db: props.db,
      dir: temp,
      version: props.legacyVersion ?? 'v4',
      filter,
      dryRun,
      ...onProgress,
    })
  return writeTablesWorkbook({
    db: props.db,
    file: temp,
    filter,
    ...(props.tables ? {tables: props.tables} : {}),
    source: props.source ?? {database: 'unknown', aedbVersion: 'unknown'},
    dryRun,
    ...onProgress,
    ...(props.copyOut ? {copyOut: props.copyOut} : {}),
  })
}

/** What `runs.counts` keeps of an export: the layout, rows per sheet, the total and how many files. */
function runCounts(result: ExportExcelResult): JsonObject {
  return {layout: result.layout, sheets: result.sheets, rows: result.rows, files: result.files.length}
}
