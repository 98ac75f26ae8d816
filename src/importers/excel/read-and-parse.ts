import {type PackedRecords, packRecords, packValue, unpackValue} from './packed-records.js'
import {type ParseLogOptions, type ParseLogResult, parseLog} from './parse-log.js'
import {type RawWorkbook, readWorkbook, WorkbookReadError} from './read-workbook.js'

/** A workbook's raw rows by sheet and row number (the original cells a rejects report gives back). */
export type RawRows = Map<string, Map<number, Record<string, unknown>>>

/** RawRows, or those of a parsed log packed (packValue) while it waits to be written. */
export type HeldRawRows = RawRows | Uint8Array

/** The original cells of one row, or undefined when the workbook has no such row. */
export function originalRow(
  rows: HeldRawRows,
  sheet: string,
  row: number,
): Record<string, unknown> | undefined {
  const map = rows instanceof Uint8Array ? unpackValue<RawRows>(rows) : rows
  return map.get(sheet)?.get(row)
}

/**
 * What reading and parsing one workbook gave, as plain data (so a worker thread can hand it back): the parse
 * result and the raw rows a rejection may quote, or the error that stopped the read.
 */
export type ReadAndParseOutcome =
  | {kind: 'parsed'; result: ParseLogResult; rawRows: HeldRawRows; packed: PackedRecords | null}
  | {kind: 'read-error'; message: string; sheet: string | null}
  | {kind: 'error'; message: string; code: string | undefined}

export interface ReadAndParseRequest {
  absolute: string
  options: ParseLogOptions
}

/** Reads a workbook and parses it as a processing log; what failed is returned, never thrown. */
export async function readAndParse(request: ReadAndParseRequest): Promise<ReadAndParseOutcome> {
  try {
    const raw = await readWorkbook(request.absolute)
    const rawRows = rawRowsOf(raw)
    const result = parseLog(raw, request.options)
    // Later refusals (study, duplicate, stale) point at Summary only: a parsed log keeps no other raw rows.
    if (result.parsed) {
      const summary = rawRows.get('Summary')
      // Packed here, on the worker thread: the main thread holds every parsed log until it is written.
      const packed = packRecords(result.parsed)
      const rows: RawRows = summary ? new Map([['Summary', summary]]) : new Map()
      return {kind: 'parsed', result, rawRows: packValue(rows), packed}
    }
    return {kind: 'parsed', result, rawRows, packed: null}
  } catch (error) {
    if (error instanceof WorkbookReadError)
      return {kind: 'read-error', message: error.message, sheet: error.sheet}
    return {
      kind: 'error',
      message: error instanceof Error ? error.message : String(error),
      code: (error as NodeJS.ErrnoException).code,
    }
  }
}

/**
 * Every sheet's rows as `header → value`; a cell under an empty header (a HEADERLESS_CELL) is kept under the name
 * its rejection gives the column (`column 3`), so the --rejects workbook still shows the cell that was refused.
 */
function rawRowsOf(raw: RawWorkbook): RawRows {
  const rows: RawRows = new Map()
  for (const sheet of raw.sheets) {
    const byRow = new Map(sheet.rows.map((r) => [r.rowNumber, Object.fromEntries(r.cells)]))
    for (const cell of sheet.headerless) {
      const row = byRow.get(cell.row) ?? {}
      row[`column ${cell.column}`] = cell.value
      byRow.set(cell.row, row)
    }
    rows.set(sheet.name, byRow)
  }
  return rows
}
