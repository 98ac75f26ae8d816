import {stat} from 'node:fs/promises'
import path from 'node:path'
import {AedbError, EXIT, userPathError} from '../../errors.js'
import {escapeExcelString} from '../../export/xlsx/escape-xml-text.js'
import {makeFolder} from '../../make-folder.js'
import type {Rejection} from '../import-session.js'
import {markAedbWorkbook} from './is-aedb-written-workbook.js'

export interface RejectedRow extends Rejection {
  /** The source row's cells as read (header → value), when the problem is in one row. */
  original: Record<string, unknown> | null
}

/**
 * Checks the `--rejects` path before anything is imported, so that a path that cannot take the workbook is a usage
 * error (exit 2) at once, not a failure after the whole run: it must name an .xlsx file, not a folder, in a folder
 * that exists or can be made.
 */
export async function prepareRejectsPath(file: string): Promise<void> {
  const refuse = (problem: string, fix: string) =>
    new AedbError(`--rejects ${file}: ${problem}.`, {
      code: 'REJECTS_PATH_INVALID',
      exit: EXIT.USAGE,
      suggestions: [fix],
    })
  if (path.extname(file).toLowerCase() !== '.xlsx')
    throw refuse(
      'the rejects file is an Excel workbook, so its name must end in .xlsx',
      'Name it rejects.xlsx, for example.',
    )
  if ((await stat(file).catch(() => null))?.isDirectory())
    throw refuse('is a folder', `Name a file in it: ${path.join(file, 'rejects.xlsx')}.`)
  await makeRejectsFolder(file)
}

/** The rejects file's folder, made if missing; a path that cannot take it is a usage error naming it. */
async function makeRejectsFolder(file: string): Promise<void> {
  await makeFolder(path.dirname(path.resolve(file))).catch((error: unknown) => {
    throw userPathError(error, file, {code: 'REJECTS_PATH_INVALID', exit: EXIT.USAGE})
  })
}

/**
 * A workbook of everything rejected: one sheet per source sheet with the original cells of each rejected row
 * and the reason, plus a `Workbooks` sheet for problems not tied to a row. Streams, and never writes a formula.
 */
export async function writeRejectsWorkbook(file: string, rejected: readonly RejectedRow[]): Promise<void> {
  // Checked by prepareRejectsPath before the run; its folder is made again in case it went during the run.
  await makeRejectsFolder(file)
  const {default: exceljs} = await import('exceljs')
  const writer = new exceljs.stream.xlsx.WorkbookWriter({
    filename: file,
    useStyles: false,
    useSharedStrings: false,
  })
  // Written inside an input tree, the next run must not take it for a log (its sheets are named like a log's).
  markAedbWorkbook(writer, 'rejects')
  const bySheet = new Map<string, RejectedRow[]>()
  for (const r of rejected) {
    const key = r.original && r.sheet ? r.sheet : 'Workbooks'
    const list = bySheet.get(key) ?? []
    list.push(r)
    bySheet.set(key, list)
  }
  // A clean run still writes the file (with no rows), so a stale rejects file from an earlier run cannot mislead.
  if (bySheet.size === 0) bySheet.set('Workbooks', [])
  for (const [sheetName, rows] of bySheet) {
    const sheet = writer.addWorksheet(sheetName.slice(0, 31))
    const originalHeaders = [...new Set(rows.flatMap((r) => Object.keys(r.original ?? {})))]
    sheet.addRow(['File', 'Sheet', 'Row', 'Column', 'Code', 'Reason', ...originalHeaders]).commit()
    for (const r of rows) {
      const cells = originalHeaders.map((h) => cellOf(r.original?.[h]))
      sheet.addRow([r.file, r.sheet, r.row, r.column, r.code, r.message, ...cells]).commit()
    }
    sheet.commit()
  }
  await writer.commit()
}

function cellOf(value: unknown): string | number | boolean | null {
  if (value === undefined || value === null) return null
  if (typeof value === 'object' && 'naive' in (value as object)) return (value as {naive: string}).naive
  if (typeof value === 'string') return escapeExcelString(value)
  if (typeof value === 'number' || typeof value === 'boolean') return value
  return escapeExcelString(String(value))
}
