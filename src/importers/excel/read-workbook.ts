import {readFile} from 'node:fs/promises'
import type {CellValue} from './cell-value.js'
import {loadZip} from './load-zip.js'
import {readWorkbookWithExceljs} from './read-workbook-exceljs.js'
import {decodeXml} from './sheet-limits.js'
import {readXlsx} from './xlsx-reader/read-xlsx.js'
import {UnsupportedWorkbook} from './xlsx-reader/read-zip-entries.js'

export {toCellValue} from './read-workbook-exceljs.js'
export {MAX_SHEET_CELLS, MAX_SHEET_ROWS, MAX_SHEET_XML_BYTES} from './sheet-limits.js'
export {WorkbookReadError} from './workbook-read-error.js'

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

/**
 * Reads a legacy log: its sheets (aedb's marker sheet left out), header row, data rows and cells, with date cells
 * as naive wall-clock text to the microsecond. aedb's own xlsx reader (xlsx-reader/) reads the workbooks the
 * legacy pipeline and aedb write, giving exactly what exceljs's in-memory reader gives at a fraction of the CPU;
 * a workbook it does not read exactly as exceljs does (merged cells, hyperlinks, comments, a damaged or odd zip or
 * XML) is read with exceljs, which also says what is wrong with a file that is not a readable .xlsx. A sheet beyond
 * the size limits is refused before any sheet is parsed, on both paths.
 */
export async function readWorkbook(file: string): Promise<RawWorkbook> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch {
    return readWorkbookWithExceljs(file)
  }
  try {
    return readXlsx(bytes)
  } catch (error) {
    if (error instanceof UnsupportedWorkbook) return readWorkbookWithExceljs(file)
    throw error
  }
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
