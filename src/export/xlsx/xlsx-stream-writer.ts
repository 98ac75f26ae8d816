import {createWriteStream, type WriteStream} from 'node:fs'
import {PassThrough} from 'node:stream'
import archiver, {type Archiver} from 'archiver'
import {DATE_FORMAT} from '../excel-cell.js'
import {escapeXmlText} from './escape-xml-text.js'

/** One sheet of the workbook, in tab order. */
export interface XlsxSheet {
  name: string
  state?: 'visible' | 'veryHidden'
  /** The header range of an autofilter (`A1:X1`), also named `_xlnm._FilterDatabase` as Excel does. */
  autoFilter?: string
}

/** Cell style indexes of the workbook's styles.xml. */
export const STYLE = {plain: 0, bold: 1, date: 2} as const

/** Where a sheet's XML goes: `write` resolves when the chunk is buffered, waiting only when the buffer is full. */
export interface SheetOutput {
  write(xml: string): Promise<void>
}

/** Up to this much sheet XML waits for deflate, so building the next chunk overlaps compressing the last one. */
const BUFFERED_BYTES = 16 * 1024 * 1024

/**
 * Writes an .xlsx as a stream: each sheet's XML goes through a zip (archiver, deflate level 1, compressed in libuv's
 * thread pool while the caller builds the next chunk) straight to `file`, so memory does not grow with the rows.
 * Sheets are declared in tab order first and may be written in any order (the README, first tab, is written last,
 * once every count is known); the package parts (workbook, relationships, content types, styles) at `finish`.
 */
export class XlsxStreamWriter {
  private readonly archive: Archiver
  private readonly output: WriteStream
  private readonly closed: Promise<void>
  private readonly sheets: XlsxSheet[] = []
  private failure: Error | undefined

  constructor(file: string) {
    // Level 1: about as small as the default for sheet XML at a fraction of the time. A 1 MiB output buffer lets
    // each thread-pool deflate job take a whole chunk instead of returning to the main thread every 16 KiB.
    this.archive = archiver('zip', {zlib: {level: 1, chunkSize: 1024 * 1024}})
    this.output = createWriteStream(file)
    this.closed = new Promise((resolve, reject) => {
      this.output.on('close', resolve)
      this.output.on('error', reject)
      this.archive.on('error', reject)
    })
    this.closed.catch((error: Error) => {
      this.failure = error
    })
    this.archive.pipe(this.output)
  }

  /** Adds a sheet to the tab order; returns its index for `writeSheet`. */
  declareSheet(sheet: XlsxSheet): number {
    this.sheets.push(sheet)
    return this.sheets.length - 1
  }

  /** Streams one sheet's XML (`xl/worksheets/sheet<n>.xml`) from `produce`. */
  async writeSheet(index: number, produce: (out: SheetOutput) => Promise<void>): Promise<void> {
    const entry = new PassThrough({highWaterMark: BUFFERED_BYTES})
    this.archive.append(entry, {name: `xl/worksheets/sheet${index + 1}.xml`})
    const out: SheetOutput = {
      write: async (xml) => {
        if (this.failure) throw this.failure
        if (!entry.write(xml)) await Promise.race([waitFor(entry, 'drain'), this.closed])
      },
    }
    try {
      await produce(out)
    } finally {
      entry.end()
    }
  }

  /** Writes the package parts and closes the file. */
  async finish(): Promise<void> {
    const parts: Array<[string, string]> = [
      ['[Content_Types].xml', contentTypesXml(this.sheets.length)],
      ['_rels/.rels', ROOT_RELS],
      ['xl/workbook.xml', workbookXml(this.sheets)],
      ['xl/_rels/workbook.xml.rels', workbookRelsXml(this.sheets.length)],
      ['xl/styles.xml', STYLES_XML],
    ]
    for (const [name, xml] of parts) this.archive.append(xml, {name})
    await this.archive.finalize()
    await this.closed
  }

  /** Stops writing after a failure; the caller removes the file. */
  async abort(): Promise<void> {
    this.archive.abort()
    this.output.destroy()
    await this.closed.catch(() => {})
  }
}

function waitFor(stream: PassThrough, event: string): Promise<void> {
  return new Promise((resolve) => stream.once(event, () => resolve()))
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
