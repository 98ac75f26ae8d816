import type {ImportResult, Rejection} from './importers/import-session.js'
import {renderTable} from './render-table.js'

/** The human summary of an import: what was seen, per-table counts, every rejection, how many warnings. */
export function renderImportSummary(result: ImportResult, unit: 'file' | 'recording'): string {
  const f = result.files
  const lines = [
    `${result.dryRun ? 'Dry run (nothing was changed): ' : ''}${f.seen} ${unit}(s) seen: ${f.imported} imported, ${f.unchanged} unchanged, ${f.rejected} rejected, ${f.skipped} skipped.`,
    '',
    renderTable(
      ['table', 'inserted', 'updated', 'unchanged'],
      Object.entries(result.tables).map(([t, c]) => [
        t,
        String(c.inserted),
        String(c.updated),
        String(c.unchanged),
      ]),
    ),
  ]
  if (result.rejected.length > 0) {
    lines.push('', `Rejected (${result.rejected.length}):`)
    for (const r of result.rejected) lines.push(`  ${renderRejection(r)}`)
  }
  if (result.warnings.length > 0) {
    lines.push(
      '',
      `${result.warnings.length} warning(s), printed on stderr as they happened (all of them are in --json).`,
    )
  }
  lines.push(
    '',
    result.dryRun ? `run ${result.runId} (rolled back with everything else)` : `run ${result.runId}`,
  )
  return lines.join('\n')
}

/** `file > sheet > row N > column: message [CODE]` */
export function renderRejection(r: Rejection): string {
  const where = [r.file, r.sheet, r.row === null ? null : `row ${r.row}`, r.column]
    .filter((p) => p !== null)
    .join(' > ')
  return `${where}: ${r.message} [${r.code}]`
}
