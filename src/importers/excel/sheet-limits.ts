import {WorkbookReadError} from './workbook-read-error.js'

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
 * Refuses a sheet beyond MAX_SHEET_ROWS / MAX_SHEET_CELLS from its `<dimension>` (found in `head`, the first bytes
 * of its XML), or by its XML size when it has none.
 */
export function assertSheetWithinLimits(name: string, size: number, head: string): void {
  const ref = /<(?:\w+:)?dimension\b[^>]*\bref="([^"]+)"/.exec(head)?.[1]
  const dims = ref ? dimensionSize(ref) : null
  const tooBig = dims
    ? dims.rows > MAX_SHEET_ROWS || dims.rows * dims.columns > MAX_SHEET_CELLS
    : size > MAX_SHEET_XML_BYTES
  if (!tooBig) return
  const what = dims
    ? `${dims.rows.toLocaleString('en')} rows × ${dims.columns} columns (${ref})`
    : `${Math.round(size / 1_000_000)} MB of sheet XML`
  const error = new WorkbookReadError(
    `sheet ${JSON.stringify(name)} has ${what}; expected at most ${MAX_SHEET_ROWS.toLocaleString('en')} rows and ${MAX_SHEET_CELLS.toLocaleString('en')} cells per sheet (a processing log has far fewer) — move that sheet to a workbook of its own`,
  )
  error.sheet = name
  throw error
}

/** Each sheet's name and zip part, from `xl/workbook.xml` and its relationships. */
export function sheetPartsOf(workbookXml: string, rels: string): Array<{name: string; part: string}> {
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

export function decodeXml(text: string): string {
  return text
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&')
}

function dimensionSize(ref: string): {rows: number; columns: number} | null {
  const match = /^([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$/i.exec(ref.trim())
  if (!match) return null
  const column = (letters: string) =>
    [...letters.toUpperCase()].reduce((n, c) => n * 26 + c.charCodeAt(0) - 64, 0)
  const [, c1, r1, c2 = c1!, r2 = r1!] = match
  return {rows: Number(r2) - Number(r1) + 1, columns: column(c2) - column(c1!) + 1}
}
