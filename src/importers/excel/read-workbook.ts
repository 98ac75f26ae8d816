import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
// Loaded when a workbook is first read or written: an unchanged re-run reads none, and loading costs 0.1-0.4 s.
import type ExcelJS from 'exceljs'
import type JSZip from 'jszip'
import {type CellValue, excelSerialToNaive, naiveText} from './cell-value.js'
import {AEDB_MARKER_SHEET} from './is-aedb-written-workbook.js'
import {loadZip} from './load-zip.js'

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

export interface RawRow {
  /** The Excel row number (1 = header row, data from 2). */
  rowNumber: number
  cells: Map<string, CellValue>
}

export interface RawSheet {
  name: string
  headers: string[]
  rows: RawRow[]
  /** Header texts that occur twice in the header row. */
  duplicateHeaders: string[]
  /** Data cells in columns with no header text: `(column letter, row, value)`. */
  headerless: Array<{column: number; row: number; value: CellValue}>
}

export interface RawWorkbook {
  sheets: RawSheet[]
}

export class WorkbookReadError extends Error {
  /** The sheet the problem is in, when it is one sheet's. */
  sheet: string | null = null
}

/**
 * The most rows and cells one sheet may have. A processing log's largest sheet (Movement Cycles / Cycle Details)
 * holds a few thousand rows; exceljs holds a whole workbook in memory at roughly 1 KB per cell, so a sheet beyond
 * these limits is refused before it is parsed rather than allowed to exhaust memory (issue 9 item 13).
 */
export const MAX_SHEET_ROWS = 100_000
export const MAX_SHEET_CELLS = 2_000_000
/** A sheet without a `<dimension>` is judged by its XML size: about 50 bytes per cell at the least. */
export const MAX_SHEET_XML_BYTES = MAX_SHEET_CELLS * 50

/**
 * Reads a legacy log with exceljs's in-memory reader, which gives the real sheet names and date cells as Dates
 * (holding the naive wall-clock time as UTC) for the pandas/openpyxl-written files; legacy logs are 50-500 KB.
 */
export async function readWorkbook(file: string): Promise<RawWorkbook> {
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
 * The sheet names of a workbook from its `xl/workbook.xml` alone, without parsing any sheet: a cheap look at
 * workbooks that are not named like logs (a motion-capture workbook can be large). Null when it is not an .xlsx.
 */
export async function peekSheetNames(file: string): Promise<string[] | null> {
  try {
    const zip = await loadZip(await readFile(file))
    const xml = await zip.file('xl/workbook.xml')?.async('string')
    if (xml === undefined) return null
    return [...xml.matchAll(/<(?:\w+:)?sheet\b[^>]*\bname="([^"]*)"/g)].map((m) => decodeXml(m[1]!))
  } catch {
    return null
  }
}

function decodeXml(text: string): string {
  return text
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&')
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
  for (const {name, part} of await sheetParts(zip)) {
    const entry = zip.file(part)
    if (!entry) continue
    const size = (entry as unknown as {_data?: {uncompressedSize?: number}})._data?.uncompressedSize ?? 0
    const head = await readHead(entry)
    const ref = /<(?:\w+:)?dimension\b[^>]*\bref="([^"]+)"/.exec(head)?.[1]
    const dims = ref ? dimensionSize(ref) : null
    const tooBig = dims
      ? dims.rows > MAX_SHEET_ROWS || dims.rows * dims.columns > MAX_SHEET_CELLS
      : size > MAX_SHEET_XML_BYTES
    if (!tooBig) continue
    const what = dims
      ? `${dims.rows.toLocaleString('en')} rows × ${dims.columns} columns (${ref})`
      : `${Math.round(size / 1_000_000)} MB of sheet XML`
    const error = new WorkbookReadError(
      `sheet ${JSON.stringify(name)} has ${what}; expected at most ${MAX_SHEET_ROWS.toLocaleString('en')} rows and ${MAX_SHEET_CELLS.toLocaleString('en')} cells per sheet (a processing log has far fewer) — move that sheet to a workbook of its own`,
    )
    error.sheet = name
    throw error
  }
}

async function sheetParts(zip: JSZip): Promise<Array<{name: string; part: string}>> {
  const workbookXml = (await zip.file('xl/workbook.xml')?.async('string')) ?? ''
  const rels = (await zip.file('xl/_rels/workbook.xml.rels')?.async('string')) ?? ''
  const targets = new Map<string, string>()
  for (const [tag] of rels.matchAll(/<Relationship\b[^>]*>/g)) {
    const id = /\bId="([^"]+)"/.exec(tag)?.[1]
    const target = /\bTarget="([^"]+)"/.exec(tag)?.[1]
    if (id && target) targets.set(id, target.startsWith('/') ? target.slice(1) : `xl/${target}`)
  }
  const parts: Array<{name: string; part: string}> = []
  for (const [tag] of workbookXml.matchAll(/<(?:\w+:)?sheet\b[^>]*>/g)) {
    const name = /\bname="([^"]*)"/.exec(tag)?.[1]
    const id = /\br:id="([^"]+)"/.exec(tag)?.[1]
    const part = id ? targets.get(id) : undefined
    if (name !== undefined && part) parts.push({name: decodeXml(name), part})
  }
  return parts
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

function dimensionSize(ref: string): {rows: number; columns: number} | null {
  const match = /^([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$/i.exec(ref.trim())
  if (!match) return null
  const column = (letters: string) =>
    [...letters.toUpperCase()].reduce((n, c) => n * 26 + c.charCodeAt(0) - 64, 0)
  const [, c1, r1, c2 = c1!, r2 = r1!] = match
  return {rows: Number(r2) - Number(r1) + 1, columns: column(c2) - column(c1!) + 1}
}
