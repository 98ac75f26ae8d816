import {type PackedRecords, packRecords} from './packed-records.js'
import {type ParseLogOptions, type ParseLogResult, parseLog} from './parse-log.js'
import {readWorkbook, WorkbookReadError} from './read-workbook.js'

/** A workbook's raw rows by sheet and row number (the original cells a rejects report gives back). */
export type RawRows = Map<string, Map<number, Record<string, unknown>>>

/**
 * What reading and parsing one workbook gave, as plain data (so a worker thread can hand it back): the parse
 * result and the raw rows a rejection may quote, or the error that stopped the read.
 */
export type ReadAndParseOutcome =
  | {kind: 'parsed'; result: ParseLogResult; rawRows: RawRows; packed: PackedRecords | null}
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
    const rawRows: RawRows = new Map(
      raw.sheets.map((s) => [s.name, new Map(s.rows.map((r) => [r.rowNumber, Object.fromEntries(r.cells)]))]),
    )
    const result = parseLog(raw, request.options)
    // Later refusals (study, duplicate, stale) point at Summary only: a parsed log keeps no other raw rows.
    if (result.parsed) {
      const summary = rawRows.get('Summary')
      // Packed here, on the worker thread: the main thread holds every parsed log until it is written.
      const packed = packRecords(result.parsed)
      return {kind: 'parsed', result, rawRows: summary ? new Map([['Summary', summary]]) : new Map(), packed}
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
