import type {Kysely} from 'kysely'
import {MIGRATIONS} from '../db/migrations.js'
import {assertSchemaCurrent} from '../db/migrator.js'
import type {Database} from '../db/schema.js'
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
  const filter: ExportFilter = {
    studies: props.filter?.studies ?? [],
    participants: props.filter?.participants ?? [],
    profiles: props.filter?.profiles ?? [],
  }
  const dryRun = props.dryRun ?? false
  await assertSchemaCurrent(props.db, MIGRATIONS)
  const kind = props.layout === 'legacy' ? 'folder' : 'file'
  const target = await claimOutput(props.output, kind, props.force ?? false, dryRun)
  try {
    const written =
      props.layout === 'legacy'
        ? await writeLegacyLogs({
            db: props.db,
            dir: target.temp,
            version: props.legacyVersion ?? 'v4',
            filter,
            dryRun,
            ...(props.onProgress ? {onProgress: props.onProgress} : {}),
          })
        : await writeTablesWorkbook({
            db: props.db,
            file: target.temp,
            filter,
            ...(props.tables ? {tables: props.tables} : {}),
            source: props.source ?? {database: 'unknown', aedbVersion: 'unknown'},
            dryRun,
            ...(props.onProgress ? {onProgress: props.onProgress} : {}),
          })
    if (dryRun) await target.discard()
    else await target.commit()
    const files = 'files' in written ? (written.files as string[]) : [target.final]
    return {
      path: target.final,
      layout: props.layout,
      sheets: written.sheets,
      files,
      rows: written.rows,
    }
  } catch (error) {
    await target.discard()
    throw error
  }
}
