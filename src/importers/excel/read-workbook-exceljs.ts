import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
// Loaded when a workbook is first read this way: loading exceljs costs 0.1-0.4 s.
import type ExcelJS from 'exceljs'
import type JSZip from 'jszip'
import {type CellValue, excelSerialToNaive, naiveText} from './cell-value.js'
import {AEDB_MARKER_SHEET} from './is-aedb-written-workbook.js'
import {loadZip} from './load-zip.js'
import type {RawRow, RawSheet, RawWorkbook} from './read-workbook.js'
import {assertSheetWithinLimits, sheetPartsOf} from './sheet-limits.js'
import {WorkbookReadError} from './workbook-read-error.js'

/**
 * exceljs turns a date cell's serial into a Date rounded to the millisecond, but the legacy logs hold microseconds
 * (knee-ae-excel.md §2). Its readers call `utils.excelToDate` through the shared utils object, so wrapping that one
 * function lets us remember the exact serial behind each Date it makes; the Date itself is unchanged.
 */
const SERIALS = new WeakMap<Date, {serial: number; date1904: boolean}>()
const excelUtils = createRequire(import.meta.url)('exceljs/lib/utils/utils.js') as {
  excelToDate: (serial: number, date1904?: boolean) => Date
  aedbKeepsSerials?: true
}
if (!excelUtils.aedbKeepsSerials) {
  const excelToDate = excelUtils.excelToDate
  excelUtils.excelToDate = (serial, date1904) => {
    const date = excelToDate(serial, date1904)
    SERIALS.set(date, {serial, date1904: date1904 === true})
    return date
  }
  excelUtils.aedbKeepsSerials = true
}

/**
 * Reads a legacy log with exceljs's in-memory reader (the reference the fast reader matches, and what reads the
 * workbooks it leaves aside), which gives the real sheet names and date cells as Dates
 * (holding the naive wall-clock time as UTC) for the pandas/openpyxl-written files; legacy logs are 50-500 KB.
 */
export async function readWorkbookWithExceljs(file: string): Promise<RawWorkbook> {
  await assertSheetsWithinLimits(file)
  const {default: exceljs} = await import('exceljs')
  const workbook = new exceljs.Workbook()
  try {
    await workbook.xlsx.readFile(file)
  } catch (error) {
    throw new WorkbookReadError(describeReadError(error))
  }
  // aedb's marker sheet (an export in the legacy layout has one) is not part of the log.
  return {sheets: workbook.worksheets.filter((s) => s.name !== AEDB_MARKER_SHEET).map(readSheet)}
}

function describeReadError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  if (/end of central directory|is this a zip/i.test(message))
    return 'not a readable .xlsx file (not a zip archive, or cut short)'
  if (/zip|signature|invalid|corrupt|unexpected end|inflate/i.test(message))
    return 'not a readable .xlsx file (damaged)'
  return `not a readable .xlsx file (${message.split('\n')[0]})`
}

function readSheet(sheet: ExcelJS.Worksheet): RawSheet {
  const headerRow = sheet.getRow(1)
  const byColumn = new Map<number, string>()
  const seen = new Set<string>()
  const duplicateHeaders: string[] = []
  headerRow.eachCell({includeEmpty: false}, (cell, column) => {
    const value = toCellValue(cell.value)
    if (value === null) return
    const header = typeof value === 'object' ? value.naive : String(value).trim()
    if (header === '') return
    if (seen.has(header)) duplicateHeaders.push(header)
    seen.add(header)
    byColumn.set(column, header)
  })
  const rows: RawRow[] = []
  const headerless: RawSheet['headerless'] = []
  sheet.eachRow({includeEmpty: false}, (row, rowNumber) => {
    if (rowNumber === 1) return
    const cells = new Map<string, CellValue>()
    row.eachCell({includeEmpty: false}, (cell, column) => {
      const value = toCellValue(cell.value)
      if (value === null) return
      const header = byColumn.get(column)
      if (header === undefined) headerless.push({column, row: rowNumber, value})
      else cells.set(header, value)
    })
    if (cells.size > 0) rows.push({rowNumber, cells})
  })
  return {name: sheet.name, headers: [...byColumn.values()], rows, duplicateHeaders, headerless}
}

export function toCellValue(value: ExcelJS.CellValue): CellValue {
  if (value === null || value === undefined) return null
  if (typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isNaN(value) ? null : value
  if (value instanceof Date) {
    const exact = SERIALS.get(value)
    return {naive: exact ? excelSerialToNaive(exact.serial, exact.date1904) : naiveText(value)}
  }
  if (typeof value === 'object') {
    if ('richText' in value && Array.isArray(value.richText))
      return value.richText.map((r) => r.text).join('')
    // openpyxl stored any text starting with `=` as a formula with no cached value: give back that text.
    if ('formula' in value || 'sharedFormula' in value) {
      const formula = value as {formula?: string; sharedFormula?: string; result?: ExcelJS.CellValue}
      if (formula.result !== undefined && formula.result !== null) return toCellValue(formula.result)
      return `=${formula.formula ?? formula.sharedFormula ?? ''}`
    }
    if ('result' in value) return toCellValue((value as {result?: ExcelJS.CellValue}).result ?? null)
    if ('text' in value && typeof (value as {text?: unknown}).text === 'string')
      return (value as {text: string}).text
    if ('error' in value) return String((value as {error: unknown}).error)
  }
  return String(value)
}

/**
 * Refuses a workbook with a sheet beyond MAX_SHEET_ROWS / MAX_SHEET_CELLS, from each sheet's `<dimension>` (the first
 * bytes of its XML, inflated as a stream and abandoned there), before exceljs parses anything. Not a zip: left to
 * exceljs to say.
 */
async function assertSheetsWithinLimits(file: string): Promise<void> {
  let zip: JSZip
  try {
    zip = await loadZip(await readFile(file))
  } catch {
    return
  }
  const workbookXml = (await zip.file('xl/workbook.xml')?.async('string')) ?? ''
  const rels = (await zip.file('xl/_rels/workbook.xml.rels')?.async('string')) ?? ''
  for (const {name, part} of sheetPartsOf(workbookXml, rels)) {
    const entry = zip.file(part)
    if (!entry) continue
    const size = (entry as unknown as {_data?: {uncompressedSize?: number}})._data?.uncompressedSize ?? 0
    assertSheetWithinLimits(name, size, await readHead(entry))
  }
}

/** The first few kilobytes of a zip entry, inflated as a stream that is then abandoned. */
function readHead(entry: JSZip.JSZipObject, bytes = 8192): Promise<string> {
  return new Promise((resolve) => {
    const stream = entry.nodeStream('nodebuffer')
    let head = ''
    const done = () => {
      stream.removeAllListeners()
      stream.pause()
      resolve(head)
    }
    stream.on('data', (chunk: Buffer) => {
      head += chunk.toString('utf8')
      if (head.length >= bytes || head.includes('<sheetData')) done()
    })
    stream.on('end', done)
    stream.on('error', done)
  })
}
