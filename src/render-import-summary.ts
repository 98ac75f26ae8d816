import type {ImportResult, Rejection} from './importers/import-session.js'
import {renderTable} from './render-table.js'

/** The human summary of an import: what was seen, per-table counts, every rejection, how many warnings. */
export function renderImportSummary(result: ImportResult, unit: 'file' | 'recording'): string {
  const lines = [renderFileCounts(result, unit)]
  // A run that read nothing (every file unchanged) has no table counts: no empty table.
  if (Object.keys(result.tables).length > 0) lines.push('', renderTableCounts(result))
  if (result.rejected.length > 0) {
    const units = new Set(result.rejected.map((r) => r.file)).size
    lines.push('', `Rejected: ${result.rejected.length} problem(s) in ${units} ${unit}(s):`)
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

/** `10 file(s) seen: 8 imported, …`, or for a dry run what a real run would do. */
function renderFileCounts(result: ImportResult, unit: 'file' | 'recording'): string {
  const f = result.files
  if (result.dryRun) {
    return `Dry run, nothing was changed or written: ${f.seen} ${unit}(s) seen: would import ${f.imported}, ${f.unchanged} unchanged, would reject ${f.rejected} ${unit}(s), ${f.skipped} skipped.`
  }
  return `${f.seen} ${unit}(s) seen: ${f.imported} imported, ${f.unchanged} unchanged, ${f.rejected} ${unit}(s) rejected, ${f.skipped} skipped.`
}

function renderTableCounts(result: ImportResult): string {
  const headings = result.dryRun
    ? ['table', 'would insert', 'would update', 'unchanged', 'would delete']
    : ['table', 'inserted', 'updated', 'unchanged', 'deleted']
  return renderTable(
    headings,
    Object.entries(result.tables).map(([t, c]) => [
      t,
      String(c.inserted),
      String(c.updated),
      String(c.unchanged),
      String(c.deleted),
    ]),
  )
}

/** `file > sheet > row N > column: message [CODE]` (the file once, when the message already starts with it). */
export function renderRejection(r: Rejection): string {
  if (r.sheet === null && r.row === null && r.column === null && r.message.startsWith(r.file)) {
    return `${r.message} [${r.code}]`
  }
  const where = [r.file, r.sheet, r.row === null ? null : `row ${r.row}`, r.column]
    .filter((p) => p !== null)
    .join(' > ')
  return `${where}: ${r.message} [${r.code}]`
}
