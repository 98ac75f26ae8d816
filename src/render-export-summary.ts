import type {ExportExcelResult} from './export/export-excel.js'

/** The human summary of an export: what was (or would be) written, then the rows of each sheet. */
export function renderExportSummary(result: ExportExcelResult, dryRun: boolean): string {
  const verb = dryRun ? 'would write' : 'wrote'
  const sheets = Object.entries(result.sheets).map(([sheet, rows]) => `  ${sheet}: ${rows} rows`)
  return [
    `${verb} ${result.path} (${result.layout}, ${result.files.length} file(s), ${result.rows} rows)`,
    ...sheets,
  ].join('\n')
}
