import {type CellValue, excelSerialToNaive} from '../cell-value.js'
import {decodeXmlAgain} from './exceljs-rules.js'
import type {SharedString} from './read-workbook-parts.js'
import {UnsupportedWorkbook} from './read-zip-entries.js'
import {scanXml} from './scan-xml.js'

/** One sheet's cells by row number, then by column (both 1-based); null marks a styled cell without a value. */
export type SheetCells = Map<number, Map<number, CellValue>>

export interface SheetContext {
  sharedStrings: SharedString[] | null
  /** Per cell style index, whether numbers in it are dates; null when styles.xml has no cell styles. */
  dateStyles: Array<boolean | null> | null
  hasStyles: boolean
  date1904: boolean
}

/** Elements of a worksheet (outside `sheetData`) that exceljs reads without changing any cell value. */
const PLAIN_ELEMENTS = new Set([
  'worksheet',
  'sheetPr',
  'tabColor',
  'outlinePr',
  'pageSetUpPr',
  'dimension',
  'sheetViews',
  'sheetView',
  'selection',
  'pane',
  'sheetFormatPr',
  'cols',
  'col',
  'pageMargins',
  // A filter range without filter columns (export-excel's tables layout writes one per sheet).
  'autoFilter',
  'pageSetup',
  'printOptions',
  'headerFooter',
  'oddHeader',
  'oddFooter',
  'evenHeader',
  'evenFooter',
  'firstHeader',
  'firstFooter',
])

interface CellDraft {
  column: number
  address: string
  type: string | undefined
  styleId: number
  formula: string | undefined
  shareType: string | undefined
  sharedIndex: string | undefined
  ref: string | undefined
  value: string | undefined
  runs: string[] | undefined
}

/**
 * A worksheet's cells, each given the value exceljs's in-memory reader would give it (see cellValueOf). Merged
 * cells, hyperlinks, comments and anything else that changes values in exceljs are UnsupportedWorkbook.
 */
export function readSheetCells(xml: string, context: SheetContext): SheetCells {
  const rows: SheetCells = new Map()
  const sharedFormulas = new Map<string, string>()
  const path: string[] = []
  let row: Map<number, CellValue> | undefined
  let cell: CellDraft | undefined
  let textInto: 'f' | 'v' | 't' | 'run' | undefined
  scanXml(xml, {
    open(name, attributes) {
      const parent = path.at(-1)
      path.push(name)
      if (cell) {
        textInto = openInCell(cell, name, attributes, path)
        return
      }
      if (name === 'row' && parent === 'sheetData') {
        row = new Map()
        rows.set(rowNumberOf(attributes.r), row)
      } else if (name === 'c' && parent === 'row') cell = newCell(attributes)
      else if (!(name === 'sheetData' && parent === 'worksheet') && !PLAIN_ELEMENTS.has(name))
        throw new UnsupportedWorkbook(`worksheet element ${name}`)
    },
    close(name) {
      path.pop()
      if (name === 'c' && cell && path.at(-1) === 'row') {
        const value = cellValueOf(cell, context, sharedFormulas)
        if (value !== undefined) row!.set(cell.column, value)
        cell = undefined
      }
      if (name === 'f' || name === 'v' || name === 't') textInto = undefined
    },
    text(text) {
      if (!cell || textInto === undefined) return
      if (textInto === 'run') cell.runs![cell.runs!.length - 1] += text
      else if (textInto === 'f') cell.formula = (cell.formula ?? '') + text
      else cell.value = (cell.value ?? '') + text
    },
  })
  return rows
}

function rowNumberOf(r: string | undefined): number {
  const number = Number.parseInt(r ?? '', 10)
  if (!(number >= 1 && number <= 1_048_576)) throw new UnsupportedWorkbook('row number')
  return number
}

function newCell(attributes: Record<string, string>): CellDraft {
  const address = attributes.r ?? ''
  const match = /^([A-Z]{1,3})\d+$/.exec(address)
  if (!match) throw new UnsupportedWorkbook('cell address')
  let column = 0
  for (const letter of match[1]!) column = column * 26 + letter.charCodeAt(0) - 64
  if (column > 16_384) throw new UnsupportedWorkbook('cell column')
  const styleId = attributes.s ? Number.parseInt(attributes.s, 10) : 0
  return {
    column,
    address,
    type: attributes.t,
    styleId,
    formula: undefined,
    shareType: undefined,
    sharedIndex: undefined,
    ref: undefined,
    value: undefined,
    runs: undefined,
  }
}

/** Where text inside a cell goes, as exceljs's cell parser routes it (`path` ends with `name`). */
function openInCell(
  cell: CellDraft,
  name: string,
  attributes: Record<string, string>,
  path: string[],
): 'f' | 'v' | 't' | 'run' | undefined {
  const parent = path.at(-2)
  if (path.includes('rPr')) return undefined
  if (name === 'v' && parent === 'c') {
    if (cell.runs) throw new UnsupportedWorkbook('value and runs')
    return 'v'
  }
  if (name === 'is' && parent === 'c') return undefined
  if (name === 't' && parent === 'is') {
    if (cell.runs) throw new UnsupportedWorkbook('inline text and runs')
    return 't'
  }
  if (name === 'r' && parent === 'is') {
    if (cell.value !== undefined) throw new UnsupportedWorkbook('inline text and runs')
    cell.runs ??= []
    cell.runs.push('')
    return undefined
  }
  if (name === 't' && parent === 'r') {
    cell.runs![cell.runs!.length - 1] = ''
    return 'run'
  }
  if (name === 'f' && parent === 'c') {
    cell.shareType = attributes.t
    cell.sharedIndex = attributes.si
    cell.ref = attributes.ref
    return 'f'
  }
  throw new UnsupportedWorkbook(`cell element ${name}`)
}

/**
 * The value exceljs's reader gives a cell, as `toCellValue` turns it into a CellValue: undefined for a cell
 * exceljs does not keep (no value and no style), null for a styled empty one.
 */
function cellValueOf(
  cell: CellDraft,
  context: SheetContext,
  sharedFormulas: Map<string, string>,
): CellValue | undefined {
  const isDate = isDateStyle(cell.styleId, context)
  if (cell.formula || cell.shareType) return formulaValueOf(cell, isDate, context, sharedFormulas)
  if (cell.runs) {
    if (cell.type !== 'inlineStr') throw new UnsupportedWorkbook('runs outside an inline string')
    return cell.runs.map(unescapeX).join('')
  }
  const value = cell.value
  if (value === undefined) return cell.styleId ? null : undefined
  switch (cell.type) {
    case 's':
      return sharedStringOf(value, context)
    case 'str':
      return decodeXmlAgain(value)
    case 'inlineStr':
    case 'e':
      return value
    case 'b':
      return Number.parseInt(value, 10) !== 0
    default: {
      const number = Number.parseFloat(value)
      if (isDate) return dateOf(number, context.date1904)
      return Number.isNaN(number) ? null : number
    }
  }
}

function isDateStyle(styleId: number, context: SheetContext): boolean {
  if (!styleId || !context.hasStyles) return false
  // exceljs fails on a styled cell when styles.xml has no cell styles.
  if (context.dateStyles === null) throw new UnsupportedWorkbook('cell style without cellXfs')
  const isDate = context.dateStyles[styleId]
  if (isDate === null) throw new UnsupportedWorkbook('cell style exceljs fails on')
  return isDate === true
}

function sharedStringOf(value: string, context: SheetContext): CellValue {
  const item = context.sharedStrings?.[Number.parseInt(value, 10)]
  if (item === undefined) throw new UnsupportedWorkbook('shared string index')
  return typeof item === 'string' ? item : item.runs.join('')
}

function dateOf(serial: number, date1904: boolean): CellValue {
  if (!Number.isFinite(serial)) throw new UnsupportedWorkbook('date serial')
  try {
    return {naive: excelSerialToNaive(serial, date1904)}
  } catch {
    throw new UnsupportedWorkbook('date serial')
  }
}

/**
 * A formula cell: its cached result when exceljs keeps one (it drops a falsy result: 0, FALSE, ''), else the
 * formula text as `=formula` (openpyxl stored text starting with `=` as a formula without a result). A shared
 * formula's follower cell gives the address of the cell that holds the formula.
 */
function formulaValueOf(
  cell: CellDraft,
  isDate: boolean,
  context: SheetContext,
  sharedFormulas: Map<string, string>,
): CellValue {
  if (cell.runs) throw new UnsupportedWorkbook('formula with runs')
  let result: CellValue | undefined
  if (cell.value) {
    if (cell.type === 'str') result = decodeXmlAgain(cell.value)
    else if (cell.type === 'b') result = Number.parseInt(cell.value, 10) !== 0
    else if (cell.type === 'e') result = cell.value
    else result = Number.parseFloat(cell.value)
    if (isDate) {
      if (typeof result !== 'number') throw new UnsupportedWorkbook('date formula result')
      result = dateOf(result, context.date1904)
    }
  }
  let sharedFormula: string | undefined
  if (cell.shareType === 'shared') {
    if (cell.ref) sharedFormulas.set(String(cell.sharedIndex), cell.address)
    else sharedFormula = sharedFormulas.get(String(cell.sharedIndex))
  }
  // An error result is an object in exceljs, so it is kept even when its text is empty.
  const kept = cell.type === 'e' && cell.value ? result : result || undefined
  if (!cell.formula && !sharedFormula) {
    if (kept === undefined) throw new UnsupportedWorkbook('formula without text or result')
    return kept
  }
  if (kept !== undefined && kept !== null) return typeof kept === 'number' && Number.isNaN(kept) ? null : kept
  return `=${cell.formula || sharedFormula || ''}`
}

function unescapeX(text: string): string {
  return text.includes('_x')
    ? text.replace(/_x([0-9A-F]{4})_/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
    : text
}
