import {type ExportValue, naiveToExcelSerialText} from '../excel-cell.js'
import {escapeXmlText} from './escape-xml-text.js'
import {STYLE} from './xlsx-stream-writer.js'

const MAIN_NS = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main'

export interface SheetHeadProps {
  /** Column widths in characters, first column first. */
  widths: readonly number[]
  /** Freeze the first row (the header). */
  frozenHeader?: boolean
  /** The tab shown when the workbook opens. */
  selected?: boolean
}

/** Everything before the first row: views (frozen header), column widths, the opening `<sheetData>`. */
export function sheetHead(props: SheetHeadProps): string {
  const pane = props.frozenHeader
    ? '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
    : ''
  const cols = props.widths
    .map((w, i) => `<col min="${i + 1}" max="${i + 1}" width="${w}" customWidth="1"/>`)
    .join('')
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="${MAIN_NS}"><sheetViews><sheetView${
    props.selected ? ' tabSelected="1"' : ''
  } workbookViewId="0">${pane}</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>${
    cols ? `<cols>${cols}</cols>` : ''
  }<sheetData>`
}

export interface SheetTailProps {
  /** `A1:X1` */
  autoFilter?: string
  /** List validations: the cell range and its allowed values. */
  listValidations?: ReadonlyArray<{range: string; allowed: readonly string[]}>
}

/** Everything after the last row, in the schema's order: autofilter, data validations, page margins. */
export function sheetTail(props: SheetTailProps = {}): string {
  const filter = props.autoFilter ? `<autoFilter ref="${props.autoFilter}"/>` : ''
  const lists = props.listValidations ?? []
  const validations =
    lists.length > 0
      ? `<dataValidations count="${lists.length}">${lists
          .map(
            (v) =>
              `<dataValidation type="list" allowBlank="1" showErrorMessage="1" sqref="${v.range}"><formula1>${escapeXmlText(
                `"${v.allowed.join(',')}"`,
              )}</formula1></dataValidation>`,
          )
          .join('')}</dataValidations>`
      : ''
  return `</sheetData>${filter}${validations}<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>`
}

/**
 * A text cell: always an inline string (`t="inlineStr"`), never a formula whatever it starts with (`=`, `+`, `-`,
 * `@`, tab, CR), and no shared-strings table that would grow with the export. Empty text is no cell.
 */
export function textCellXml(ref: string, text: string, style: number = STYLE.plain): string {
  return withRef(ref, textCellBody(text, style))
}

/** A cell for a decided value (see `valueCellBody`). */
export function valueCellXml(ref: string, value: ExportValue): string {
  return withRef(ref, valueCellBody(value))
}

function withRef(ref: string, body: string): string {
  return body === '' ? '' : `<c r="${ref}"${body}`
}

/*
 * Cell bodies: a cell's XML after `<c`, without its `r` (a row writes `r` only where a cell does not follow its
 * left neighbour, which ECMA-376 allows and readers take as the next column); '' for no cell.
 */

/** A text cell's body (see `textCellXml`). */
export function textCellBody(text: string, style: number = STYLE.plain): string {
  if (text === '') return ''
  const s = style === STYLE.plain ? '' : ` s="${style}"`
  const space = edgeSpace(text) ? ' xml:space="preserve"' : ''
  return `${s} t="inlineStr"><is><t${space}>${escapeXmlText(text)}</t></is></c>`
}

const EDGE_SPACE = /^\s|\s$/

/** Whether the text starts or ends with white space (`\s`); printable ASCII at both ends skips the pattern. */
function edgeSpace(text: string): boolean {
  const first = text.charCodeAt(0)
  const last = text.charCodeAt(text.length - 1)
  if (first > 0x20 && first < 0x7f && last > 0x20 && last < 0x7f) return false
  return EDGE_SPACE.test(text)
}

/**
 * A decided value's body: numbers stay numbers (NaN is no cell, infinities their text), booleans `t="b"`,
 * dates the Excel serial of their wall-clock text with the visible date format (text when not a date).
 */
export function valueCellBody(value: ExportValue): string {
  switch (value.kind) {
    case 'empty':
      return ''
    case 'text':
      return textCellBody(value.value)
    case 'bool':
      return boolCellBody(value.value)
    case 'number':
      return numberCellBody(value.value)
    case 'date':
      return dateCellBody(value.value)
  }
}

const TRUE_BODY = ' t="b"><v>1</v></c>'
const FALSE_BODY = ' t="b"><v>0</v></c>'

export function boolCellBody(value: boolean): string {
  return value ? TRUE_BODY : FALSE_BODY
}

/** A naive timestamp text as a date cell (its Excel serial with the date format); text when it is no date. */
export function dateCellBody(text: string): string {
  const serial = naiveToExcelSerialText(text)
  return serial === null ? textCellBody(text) : ` s="${STYLE.date}"><v>${serial}</v></c>`
}

export function numberCellBody(value: number): string {
  if (Number.isNaN(value)) return ''
  if (!Number.isFinite(value)) return textCellBody(value > 0 ? 'inf' : '-inf')
  return `><v>${value}</v></c>`
}

/**
 * A number as PostgreSQL prints it (COPY text of int4, int8 or float8 with exact doubles) as a cell body: the text
 * is already a valid `<v>` (`1.5`, `-2`, `1e-05`), so it is not parsed and printed again. NaN is no cell,
 * infinities their text, `-0` is 0, as for a parsed number.
 */
export function numberTextCellBody(text: string): string {
  switch (text) {
    case 'NaN':
      return ''
    case 'Infinity':
      return textCellBody('inf')
    case '-Infinity':
      return textCellBody('-inf')
    case '-0':
      return '><v>0</v></c>'
    default:
      return `><v>${text}</v></c>`
  }
}

/**
 * One row: `r` on the row, and on a cell only where the cell before it is missing (the first one, or after an
 * empty value); `body(i)` gives column i's cell body.
 */
export function rowXml(n: number, letters: readonly string[], body: (i: number) => string): string {
  let xml = `<row r="${n}">`
  let gap = true
  for (let i = 0; i < letters.length; i++) {
    const cell = body(i)
    if (cell === '') gap = true
    else {
      xml += gap ? `<c r="${letters[i]}${n}"${cell}` : `<c${cell}`
      gap = false
    }
  }
  return `${xml}</row>`
}

export function columnLetter(n: number): string {
  let out = ''
  for (let k = n; k > 0; k = Math.floor((k - 1) / 26)) out = String.fromCharCode(65 + ((k - 1) % 26)) + out
  return out
}
