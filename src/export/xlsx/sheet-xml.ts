import {type ExportValue, naiveToExcelSerial} from '../excel-cell.js'
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
  if (text === '') return ''
  const s = style === STYLE.plain ? '' : ` s="${style}"`
  const space = /^\s|\s$/.test(text) ? ' xml:space="preserve"' : ''
  return `<c r="${ref}"${s} t="inlineStr"><is><t${space}>${escapeXmlText(text)}</t></is></c>`
}

/**
 * A cell for a decided value: numbers stay numbers (NaN is no cell, infinities their text), booleans `t="b"`,
 * dates the Excel serial of their wall-clock text with the visible date format (text when not a date).
 */
export function valueCellXml(ref: string, value: ExportValue): string {
  switch (value.kind) {
    case 'empty':
      return ''
    case 'text':
      return textCellXml(ref, value.value)
    case 'bool':
      return boolCellXml(ref, value.value)
    case 'number':
      return numberCellXml(ref, value.value)
    case 'date':
      return dateCellXml(ref, value.value)
  }
}

export function boolCellXml(ref: string, value: boolean): string {
  return value ? `<c r="${ref}" t="b"><v>1</v></c>` : `<c r="${ref}" t="b"><v>0</v></c>`
}

/** A naive timestamp text as a date cell (its Excel serial with the date format); text when it is no date. */
export function dateCellXml(ref: string, text: string): string {
  const serial = naiveToExcelSerial(text)
  return serial === null ? textCellXml(ref, text) : `<c r="${ref}" s="${STYLE.date}"><v>${serial}</v></c>`
}

export function numberCellXml(ref: string, value: number): string {
  if (Number.isNaN(value)) return ''
  if (!Number.isFinite(value)) return textCellXml(ref, value > 0 ? 'inf' : '-inf')
  return `<c r="${ref}"><v>${value}</v></c>`
}

export function columnLetter(n: number): string {
  let out = ''
  for (let k = n; k > 0; k = Math.floor((k - 1) / 26)) out = String.fromCharCode(65 + ((k - 1) % 26)) + out
  return out
}
