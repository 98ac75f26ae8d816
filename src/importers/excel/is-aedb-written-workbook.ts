import {readFile} from 'node:fs/promises'
import type JSZip from 'jszip'
import {loadZip} from './load-zip.js'
import {inflateEntry, readZipEntries, UnsupportedWorkbook} from './xlsx-reader/read-zip-entries.js'

/**
 * Workbooks aedb writes carry a marker saying so and what they are, so no importer ever takes aedb's own output for
 * a legacy log:
 *
 * - a very hidden sheet named `_aedb` whose cell A1 holds `aedb:<kind>` (works with exceljs's streaming writer,
 *   which writes no document properties), and/or
 * - a document property: `docProps/custom.xml` property `aedb` = `aedb:<kind>`, or `docProps/app.xml`
 *   `<Company>aedb:<kind></Company>` (exceljs's in-memory `workbook.company`).
 *
 * Kinds: `rejects` (the `--rejects` workbook) and `tables` (export-excel's one-sheet-per-table layout) are never
 * imported; `legacy` (export-excel in the legacy log layout) is meant to be imported again, and its `_aedb` sheet
 * is ignored by the parser.
 */
export const AEDB_MARKER_SHEET = '_aedb'
export const AEDB_WORKBOOK_KINDS = ['rejects', 'tables', 'legacy'] as const
export type AedbWorkbookKind = (typeof AEDB_WORKBOOK_KINDS)[number]
/** Kinds an importer must refuse. */
export const NEVER_IMPORTED_KINDS: ReadonlySet<AedbWorkbookKind | 'unknown'> = new Set([
  'rejects',
  'tables',
  'unknown',
])

/** The marker text for a kind: `aedb:rejects`. */
export function aedbMarker(kind: AedbWorkbookKind): string {
  return `aedb:${kind}`
}

/** Something exceljs can add a sheet to (the in-memory Workbook and the streaming WorkbookWriter both can). */
interface MarkableWorkbook {
  addWorksheet(
    name: string,
    options: {state: 'veryHidden'},
  ): {addRow(values: unknown[]): {commit?: () => void}; commit?: () => void}
}

/** Adds the `_aedb` marker sheet (very hidden, A1 = `aedb:<kind>`). Call it before writing the other sheets. */
export function markAedbWorkbook(workbook: MarkableWorkbook, kind: AedbWorkbookKind): void {
  const sheet = workbook.addWorksheet(AEDB_MARKER_SHEET, {state: 'veryHidden'})
  sheet.addRow([aedbMarker(kind)]).commit?.()
  sheet.commit?.()
}

const MARKER = /aedb:([a-z]+)/

/**
 * What aedb wrote this workbook as, or null when it is not aedb's (or not a readable .xlsx: the importer's own
 * reading then says why). A marker sheet without a recognisable kind is `unknown`, which importers refuse.
 * The parts are read with aedb's zip reader (this runs on the main thread for every new workbook), or with jszip
 * when that reader leaves the file aside.
 */
export async function isAedbWrittenWorkbook(file: string): Promise<AedbWorkbookKind | 'unknown' | null> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch {
    return null
  }
  try {
    const entries = readZipEntries(bytes)
    return await kindFromParts(async (part) => {
      const entry = entries.get(part)
      return entry ? inflateEntry(bytes, entry).toString('utf8') : ''
    })
  } catch (error) {
    if (!(error instanceof UnsupportedWorkbook)) throw error
  }
  let zip: JSZip
  try {
    zip = await loadZip(bytes)
  } catch {
    return null
  }
  return kindFromParts(async (part) => (await zip.file(part)?.async('string')) ?? '')
}

/** A zip part's text, '' when there is no such part. */
type PartText = (part: string) => Promise<string>

async function kindFromParts(text: PartText): Promise<AedbWorkbookKind | 'unknown' | null> {
  const fromProperties =
    kindOf(
      /<property\b[^>]*\bname="aedb"[^>]*>([\s\S]*?)<\/property>/.exec(
        await text('docProps/custom.xml'),
      )?.[1],
    ) ?? kindOf(/<Company>([^<]*)<\/Company>/.exec(await text('docProps/app.xml'))?.[1])
  if (fromProperties) return fromProperties
  const sheetPart = await markerSheetPart(text, await text('xl/workbook.xml'))
  if (sheetPart === null) return null
  return kindOf(await text(sheetPart)) ?? kindOf(await text('xl/sharedStrings.xml')) ?? 'unknown'
}

function kindOf(text: string | undefined): AedbWorkbookKind | null {
  const kind = text === undefined ? undefined : MARKER.exec(text)?.[1]
  return (AEDB_WORKBOOK_KINDS as readonly string[]).includes(kind ?? '') ? (kind as AedbWorkbookKind) : null
}

/** The zip path of the `_aedb` sheet, from workbook.xml and its relationships; null when there is none. */
async function markerSheetPart(text: PartText, workbookXml: string): Promise<string | null> {
  const tag = [...workbookXml.matchAll(/<(?:\w+:)?sheet\b[^>]*>/g)]
    .map((m) => m[0])
    .find((t) => /\bname="_aedb"/.test(t))
  if (!tag) return null
  const relId = /\br:id="([^"]+)"/.exec(tag)?.[1] ?? /\b\w+:id="([^"]+)"/.exec(tag)?.[1]
  const rels = await text('xl/_rels/workbook.xml.rels')
  const rel = [...rels.matchAll(/<Relationship\b[^>]*>/g)]
    .map((m) => m[0])
    .find((r) => relId !== undefined && r.includes(`Id="${relId}"`))
  const target = rel ? /\bTarget="([^"]+)"/.exec(rel)?.[1] : undefined
  if (!target) return 'xl/workbook.xml'
  return target.startsWith('/') ? target.slice(1) : `xl/${target}`
}
