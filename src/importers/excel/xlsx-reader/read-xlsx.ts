import type {CellValue} from '../cell-value.js'
import {AEDB_MARKER_SHEET} from '../is-aedb-written-workbook.js'
import type {RawSheet, RawWorkbook} from '../read-workbook.js'
import {assertSheetWithinLimits, sheetPartsOf} from '../sheet-limits.js'
import {readSheetCells, type SheetCells, type SheetContext} from './read-sheet-cells.js'
import {
  checkCoreProperties,
  readDateStyles,
  readRelationships,
  readSharedStrings,
  readWorkbookPart,
  type SheetEntry,
} from './read-workbook-parts.js'
import {
  inflateEntry,
  inflateEntryHead,
  readZipEntries,
  UnsupportedWorkbook,
  type ZipEntry,
} from './read-zip-entries.js'
import {scanXml} from './scan-xml.js'

const WORKSHEET = /xl\/worksheets\/sheet(\d+)[.]xml/
/** Parts exceljs parses into things that can change cell values or fail (comments, hyperlinks, tables, drawings). */
const LEFT_TO_EXCELJS = [
  /xl\/worksheets\/_rels\/sheet(\d+)[.]xml.rels/,
  /xl\/media\/([a-zA-Z0-9]+[.][a-zA-Z0-9]{3,4})$/,
  /xl\/drawings\/([a-zA-Z0-9]+)[.]xml/,
  /xl\/(comments\d+)[.]xml/,
  /xl\/tables\/(table\d+)[.]xml/,
  /xl\/drawings\/_rels\/([a-zA-Z0-9]+)[.]xml[.]rels/,
  /xl\/drawings\/(vmlDrawing\d+)[.]vml/,
]
const THEME = /xl\/theme\/([a-zA-Z0-9]+)[.]xml/
const IGNORE_CONTENT = {open() {}, close() {}, text() {}}

/**
 * Reads an .xlsx as exceljs's in-memory reader would, for the workbooks the legacy pipeline and aedb write (plain
 * cells, inline or shared strings, styles, formulas): the same sheets, rows and cell values, at a fraction of the
 * CPU. A sheet beyond the size limits is refused (WorkbookReadError) before any sheet is inflated. Anything else
 * it meets is UnsupportedWorkbook, and the caller reads the file with exceljs instead.
 */
export function readXlsx(bytes: Buffer): RawWorkbook {
  const entries = partEntries(readZipEntries(bytes))
  const text = (part: string) => {
    const entry = entries.get(part)
    return entry === undefined ? undefined : inflateEntry(bytes, entry).toString('utf8')
  }
  const workbookXml = text('xl/workbook.xml')
  const relsXml = text('xl/_rels/workbook.xml.rels')
  for (const {name, part} of sheetPartsOf(workbookXml ?? '', relsXml ?? '')) {
    const entry = entries.get(part)
    if (entry) assertSheetWithinLimits(name, entry.size, inflateEntryHead(bytes, entry, 16_384))
  }
  const texts = new Map<string, string>()
  for (const name of entries.keys()) texts.set(name, text(name)!)
  return readParts(texts, workbookXml, relsXml)
}

/** The zip's file entries by part name (a leading `/` dropped, as exceljs does); refuses parts exceljs interprets. */
function partEntries(entries: Map<string, ZipEntry>): Map<string, ZipEntry> {
  const parts = new Map<string, ZipEntry>()
  for (const [name, entry] of entries) {
    if (name.endsWith('/')) continue
    const part = name.startsWith('/') ? name.slice(1) : name
    if (parts.has(part) || name.includes('\\')) throw new UnsupportedWorkbook('part name')
    if (!WORKSHEET.test(part) && !THEME.test(part) && LEFT_TO_EXCELJS.some((pattern) => pattern.test(part)))
      throw new UnsupportedWorkbook(`part ${part}`)
    parts.set(part, entry)
  }
  return parts
}

function readParts(
  texts: Map<string, string>,
  workbookXml: string | undefined,
  relsXml: string | undefined,
): RawWorkbook {
  const appXml = texts.get('docProps/app.xml')
  if (appXml !== undefined) scanXml(appXml, IGNORE_CONTENT)
  const coreXml = texts.get('docProps/core.xml')
  if (coreXml !== undefined) checkCoreProperties(coreXml)
  const rootRels = texts.get('_rels/.rels')
  if (rootRels !== undefined) readRelationships(rootRels)
  const stylesXml = texts.get('xl/styles.xml')
  const sharedStringsXml = texts.get('xl/sharedStrings.xml')
  const workbook = workbookXml === undefined ? null : readWorkbookPart(workbookXml)
  const context: SheetContext = {
    sharedStrings: sharedStringsXml === undefined ? null : readSharedStrings(sharedStringsXml),
    dateStyles: stylesXml === undefined ? null : readDateStyles(stylesXml),
    hasStyles: stylesXml !== undefined,
    date1904: workbook?.date1904 ?? false,
  }
  const sheetTexts = new Map([...texts].filter(([part]) => WORKSHEET.test(part)))
  const sheets = orderedSheets(
    workbook?.sheets ?? [],
    relsXml === undefined ? new Map() : readRelationships(relsXml),
    sheetTexts,
  )
  if (sheets.length !== sheetTexts.size) throw new UnsupportedWorkbook('worksheet not in the workbook')
  return {
    sheets: sheets
      .filter((s) => s.name !== AEDB_MARKER_SHEET)
      .map((s) => toRawSheet(s.name, readSheetCells(sheetTexts.get(s.part)!, context))),
  }
}

/**
 * The worksheets exceljs would list, in workbook order: each `<sheet>` whose relationship points at a worksheet
 * part. Names exceljs refuses or changes (and repeated sheet ids) are left to it.
 */
function orderedSheets(
  sheets: SheetEntry[],
  targets: Map<string, string>,
  sheetTexts: Map<string, string>,
): Array<{name: string; part: string}> {
  const found: Array<{name: string; part: string}> = []
  const ids = new Set<number>()
  const names = new Set<string>()
  for (const sheet of sheets) {
    const target = sheet.relationshipId === undefined ? undefined : targets.get(sheet.relationshipId)
    if (target === undefined) continue
    const part = `xl/${target.replace(/^(\s|\/xl\/)+/, '')}`
    if (!sheetTexts.has(part)) continue
    if (!acceptableName(sheet.name) || names.has(sheet.name.toLowerCase()))
      throw new UnsupportedWorkbook('sheet name')
    if (!(sheet.id >= 1) || ids.has(sheet.id) || found.some((s) => s.part === part))
      throw new UnsupportedWorkbook('sheet id')
    ids.add(sheet.id)
    names.add(sheet.name.toLowerCase())
    found.push({name: sheet.name, part})
  }
  return found
}

function acceptableName(name: string): boolean {
  return (
    name !== '' &&
    name !== 'History' &&
    name.length <= 31 &&
    !/[*?:/\\[\]]/.test(name) &&
    !/(^')|('$)/.test(name)
  )
}

/** A sheet's header row, data rows and headerless cells, built as readSheet builds them from exceljs's rows. */
function toRawSheet(name: string, cells: SheetCells): RawSheet {
  const byColumn = new Map<number, string>()
  const seen = new Set<string>()
  const duplicateHeaders: string[] = []
  for (const [column, value] of sortedCells(cells.get(1))) {
    if (value === null) continue
    const header = typeof value === 'object' ? value.naive : String(value).trim()
    if (header === '') continue
    if (seen.has(header)) duplicateHeaders.push(header)
    seen.add(header)
    byColumn.set(column, header)
  }
  const rows: RawSheet['rows'] = []
  const headerless: RawSheet['headerless'] = []
  for (const rowNumber of [...cells.keys()].sort((a, b) => a - b)) {
    if (rowNumber === 1) continue
    const row = new Map<string, CellValue>()
    for (const [column, value] of sortedCells(cells.get(rowNumber))) {
      if (value === null) continue
      const header = byColumn.get(column)
      if (header === undefined) headerless.push({column, row: rowNumber, value})
      else row.set(header, value)
    }
    if (row.size > 0) rows.push({rowNumber, cells: row})
  }
  return {name, headers: [...byColumn.values()], rows, duplicateHeaders, headerless}
}

function sortedCells(row: Map<number, CellValue> | undefined): Array<[number, CellValue]> {
  return row === undefined ? [] : [...row].sort((a, b) => a[0] - b[0])
}
