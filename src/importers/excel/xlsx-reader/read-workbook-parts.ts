import {builtInFormat, decodeXmlAgain, isDateFormat} from './exceljs-rules.js'
import {UnsupportedWorkbook} from './read-zip-entries.js'
import {scanXml} from './scan-xml.js'

export interface SheetEntry {
  name: string
  id: number
  relationshipId: string | undefined
}

export interface WorkbookPart {
  sheets: SheetEntry[]
  date1904: boolean
}

const PRINT_NAMES = new Set(['_xlnm.Print_Area', '_xlnm.Print_Titles'])

/** `xl/workbook.xml`: the sheets in order and the date system (exceljs: `date1904="1"` only). */
export function readWorkbookPart(xml: string): WorkbookPart {
  const sheets: SheetEntry[] = []
  const path: string[] = []
  let date1904 = false
  let sheetLists = 0
  scanXml(xml, {
    open(name, attributes) {
      const parent = path.at(-1)
      if (name === 'sheets') sheetLists++
      else if (name === 'sheet') {
        if (parent !== 'sheets' || attributes.name === undefined)
          throw new UnsupportedWorkbook('sheet element')
        sheets.push({
          name: decodeXmlAgain(attributes.name),
          id: Number.parseInt(attributes.sheetId ?? '', 10),
          relationshipId: attributes['r:id'],
        })
      } else if (name === 'workbookPr') date1904 = attributes.date1904 === '1'
      // Print areas and titles are reconciled by exceljs with the sheets (and can fail there): left to it.
      else if (name === 'definedName' && PRINT_NAMES.has(attributes.name ?? ''))
        throw new UnsupportedWorkbook('print area or titles')
      path.push(name)
    },
    close() {
      path.pop()
    },
    text() {},
  })
  if (sheetLists > 1) throw new UnsupportedWorkbook('several sheet lists')
  return {sheets, date1904}
}

/** A `.rels` part: relationship id to target. exceljs refuses any element other than `Relationship`. */
export function readRelationships(xml: string): Map<string, string> {
  const targets = new Map<string, string>()
  scanXml(xml, {
    open(name, attributes) {
      if (name === 'Relationships') return
      if (name !== 'Relationship' || attributes.Target === undefined)
        throw new UnsupportedWorkbook('relationship')
      if (attributes.Id !== undefined) targets.set(attributes.Id, attributes.Target)
    },
    close() {},
    text() {},
  })
  return targets
}

/** A shared string: text, or rich text runs (exceljs keeps their texts in `richText`). */
export type SharedString = string | {runs: string[]}

/**
 * `xl/sharedStrings.xml`. A `<t>` (alone or in a run) is all its text joined with exceljs's `_xHHHH_` unescaping
 * (upper-case hex only); phonetic runs (`<rPh>`) are skipped.
 */
export function readSharedStrings(xml: string): SharedString[] {
  const strings: SharedString[] = []
  const state = {
    path: [] as string[],
    text: null as string[] | null,
    item: undefined as SharedString | undefined,
  }
  scanXml(xml, {
    open(name) {
      openSharedStringNode(state, name)
      state.path.push(name)
    },
    close(name) {
      state.path.pop()
      if (name === 't' && state.text) {
        const text = unescapeX(state.text.join(''))
        state.text = null
        if (state.path.at(-1) === 'si') {
          if (typeof state.item === 'object') throw new UnsupportedWorkbook('text and runs')
          state.item = text
        } else if (state.path.at(-1) === 'r' && typeof state.item === 'object')
          state.item.runs[state.item.runs.length - 1] = text
      } else if (name === 'si') {
        if (state.item === undefined) throw new UnsupportedWorkbook('empty shared string')
        strings.push(state.item)
      }
    },
    text(text) {
      state.text?.push(text)
    },
  })
  return strings
}

function openSharedStringNode(
  state: {path: string[]; text: string[] | null; item: SharedString | undefined},
  name: string,
): void {
  const parent = state.path.at(-1)
  const inPhonetic = state.path.includes('rPh')
  if (name === 'sst' && parent === undefined) return
  if (name === 'si' && parent === 'sst') {
    state.item = undefined
    return
  }
  if (parent === undefined || parent === 'sst') throw new UnsupportedWorkbook('shared strings element')
  if (inPhonetic || name === 'rPh' || state.path.includes('rPr') || name === 'rPr') return
  if (name === 't' && (parent === 'si' || parent === 'r')) {
    state.text = []
    return
  }
  if (name === 'r' && parent === 'si') {
    if (typeof state.item === 'string') throw new UnsupportedWorkbook('text and runs')
    if (state.item === undefined) state.item = {runs: []}
    state.item.runs.push('')
    return
  }
  throw new UnsupportedWorkbook('shared strings element')
}

function unescapeX(text: string): string {
  return text.includes('_x')
    ? text.replace(/_x([0-9A-F]{4})_/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
    : text
}

/**
 * `xl/styles.xml`: for each cell style index (`cellXfs`), whether a number in it is a date, decided as exceljs
 * decides (custom `numFmt` codes, else its built-in table), or null where exceljs fails on the style (it refers
 * to a font, fill or border list the file does not have). Null when the workbook has no cell styles.
 */
export function readDateStyles(xml: string): Array<boolean | null> | null {
  const formats: string[] = []
  const xfs: Array<Record<string, string>> = []
  const listed = {font: 0, fill: 0, border: 0}
  const path: string[] = []
  let lists = 0
  scanXml(xml, {
    open(name, attributes) {
      const parent = path.at(-1)
      if ((name === 'numFmts' || name === 'cellXfs') && parent !== 'styleSheet')
        throw new UnsupportedWorkbook('styles')
      if (name === 'cellXfs') lists++
      if (name === 'numFmt' && parent === 'numFmts') {
        if (attributes.formatCode === undefined) throw new UnsupportedWorkbook('number format')
        formats[Number.parseInt(attributes.numFmtId ?? '', 10)] = attributes.formatCode.replace(
          /[\\](.)/g,
          '$1',
        )
      }
      if (name === 'xf' && parent === 'cellXfs') xfs.push(attributes)
      if (
        (name === 'font' || name === 'fill' || name === 'border') &&
        parent === `${name}s` &&
        path.at(-2) === 'styleSheet'
      )
        listed[name]++
      path.push(name)
    },
    close() {
      path.pop()
    },
    text() {},
  })
  if (lists > 1) throw new UnsupportedWorkbook('several cellXfs')
  if (xfs.length === 0) return null
  return xfs.map((xf) => {
    const refersToMissing = (['font', 'fill', 'border'] as const).some((part) => {
      const id = Number.parseInt(xf[`${part}Id`] ?? '', 10)
      return (id || id === 0) && listed[part] === 0
    })
    if (refersToMissing) return null
    const id = Number.parseInt(xf.numFmtId ?? '', 10)
    return id ? isDateFormat(formats[id] || builtInFormat(id)) : false
  })
}

/** Elements exceljs reads from `docProps/core.xml`; it fails on any other (or on one holding elements). */
const CORE_PROPERTIES = new Set(
  'dc:creator dc:title dc:subject dc:description dc:identifier dc:language cp:keywords cp:category cp:lastModifiedBy cp:lastPrinted cp:revision cp:version cp:contentStatus cp:contentType dcterms:created dcterms:modified'.split(
    ' ',
  ),
)

/** Checks `docProps/core.xml` holds only what exceljs reads without failing. */
export function checkCoreProperties(xml: string): void {
  let depth = 0
  scanXml(xml, {
    open(name) {
      depth++
      const fine =
        depth === 1
          ? name === 'cp:coreProperties' || name === 'coreProperties'
          : depth === 2 && CORE_PROPERTIES.has(name)
      if (!fine) throw new UnsupportedWorkbook('core properties')
    },
    close() {
      depth--
    },
    text() {},
  })
}
