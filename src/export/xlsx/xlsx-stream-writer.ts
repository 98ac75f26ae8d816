import {DATE_FORMAT} from '../excel-cell.js'
import {escapeXmlText} from './escape-xml-text.js'
import {ZipWriter} from './zip-writer.js'

/** One sheet of the workbook, in tab order. */
export interface XlsxSheet {
  name: string
  state?: 'visible' | 'veryHidden'
  /** The header range of an autofilter (`A1:X1`), also named `_xlnm._FilterDatabase` as Excel does. */
  autoFilter?: string
}

/** Cell style indexes of the workbook's styles.xml. */
export const STYLE = {plain: 0, bold: 1, date: 2} as const

/**
 * Where a sheet's XML goes. `push` encodes a piece (a row) into the current block at once and says when to await
 * `drain` (deflate is behind); `write` is both.
 */
export interface SheetOutput {
  write(xml: string): Promise<void>
  push(xml: string): boolean
  /** An empty block for `pushBlock`. */
  takeBlock(): Buffer
  /** The first `used` bytes of a block of XML made by the caller (rows), after what was written before; see `push`. */
  pushBlock(block: Buffer, used: number): boolean
  drain(): Promise<void>
}

/**
 * Writes an .xlsx as a stream: each sheet's XML goes through the zip writer (deflate level 1 in libuv's thread
 * pool, several blocks at once, while the caller builds the next chunk) straight to `file`, so memory does not
 * grow with the rows. Sheets are declared in tab order first and may be written in any order (the README, first
 * tab, is written last, once every count is known); the package parts (workbook, relationships, content types,
 * styles) at `finish`.
 */
export class XlsxStreamWriter {
  private readonly sheets: XlsxSheet[] = []
  private zip: ZipWriter | undefined

  constructor(private readonly file: string) {}

  /** Adds a sheet to the tab order; returns its index for `writeSheet`. */
  declareSheet(sheet: XlsxSheet): number {
    this.sheets.push(sheet)
    return this.sheets.length - 1
  }

  /** Streams one sheet's XML (`xl/worksheets/sheet<n>.xml`) from `produce`. */
  async writeSheet(index: number, produce: (out: SheetOutput) => Promise<void>): Promise<void> {
    const zip = await this.open()
    await zip.startEntry(`xl/worksheets/sheet${index + 1}.xml`)
    await produce({
      write: (xml) => zip.write(xml),
      push: (xml) => zip.push(xml),
      takeBlock: () => zip.takeBlock(),
      pushBlock: (block, used) => zip.pushBlock(block, used),
      drain: () => zip.drain(),
    })
    await zip.endEntry()
  }

  /** Writes the package parts and closes the file. */
  async finish(): Promise<void> {
    const zip = await this.open()
    const parts: Array<[string, string]> = [
      ['[Content_Types].xml', contentTypesXml(this.sheets.length)],
      ['_rels/.rels', ROOT_RELS],
      ['xl/workbook.xml', workbookXml(this.sheets)],
      ['xl/_rels/workbook.xml.rels', workbookRelsXml(this.sheets.length)],
      ['xl/styles.xml', STYLES_XML],
    ]
    for (const [name, xml] of parts) await zip.add(name, xml)
    await zip.finish()
  }

  /** Stops writing after a failure; the caller removes the file. */
  async abort(): Promise<void> {
    await this.zip?.abort()
  }

  private async open(): Promise<ZipWriter> {
    this.zip ??= await ZipWriter.create(this.file)
    return this.zip
  }
}

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
const MAIN_NS = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main'
const REL_NS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships'
const PACKAGE_REL_NS = 'http://schemas.openxmlformats.org/package/2006/relationships'
const SHEET_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml'

function contentTypesXml(sheets: number): string {
  const overrides = Array.from(
    {length: sheets},
    (_, i) => `<Override PartName="/xl/worksheets/sheet${i + 1}.xml" ContentType="${SHEET_TYPE}"/>`,
  ).join('')
  return `${XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>${overrides}</Types>`
}

const ROOT_RELS = `${XML_HEAD}<Relationships xmlns="${PACKAGE_REL_NS}"><Relationship Id="rId1" Type="${REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>`

function workbookXml(sheets: XlsxSheet[]): string {
  const tags = sheets.map(
    (s, i) =>
      `<sheet name="${escapeXmlText(s.name)}" sheetId="${i + 1}"${s.state === 'veryHidden' ? ' state="veryHidden"' : ''} r:id="rId${i + 1}"/>`,
  )
  const filters = sheets.flatMap((s, i) =>
    s.autoFilter
      ? [
          `<definedName name="_xlnm._FilterDatabase" localSheetId="${i}" hidden="1">'${escapeXmlText(s.name.replaceAll("'", "''"))}'!${absolute(s.autoFilter)}</definedName>`,
        ]
      : [],
  )
  const names = filters.length > 0 ? `<definedNames>${filters.join('')}</definedNames>` : ''
  return `${XML_HEAD}<workbook xmlns="${MAIN_NS}" xmlns:r="${REL_NS}"><bookViews><workbookView activeTab="0"/></bookViews><sheets>${tags.join('')}</sheets>${names}</workbook>`
}

/** `A1:X1` -> `$A$1:$X$1` */
function absolute(range: string): string {
  return range.replace(/([A-Z]+)(\d+)/g, '$$$1$$$2')
}

function workbookRelsXml(sheets: number): string {
  const rels = Array.from(
    {length: sheets},
    (_, i) =>
      `<Relationship Id="rId${i + 1}" Type="${REL_NS}/worksheet" Target="worksheets/sheet${i + 1}.xml"/>`,
  )
  rels.push(`<Relationship Id="rId${sheets + 1}" Type="${REL_NS}/styles" Target="styles.xml"/>`)
  return `${XML_HEAD}<Relationships xmlns="${PACKAGE_REL_NS}">${rels.join('')}</Relationships>`
}

/** Three cell formats, matching STYLE: plain, bold (headers), and the date format (numFmt 164). */
const STYLES_XML = `${XML_HEAD}<styleSheet xmlns="${MAIN_NS}"><numFmts count="1"><numFmt numFmtId="164" formatCode="${escapeXmlText(DATE_FORMAT)}"/></numFmts><fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font><font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`
