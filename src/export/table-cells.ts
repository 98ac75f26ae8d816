import pg from 'pg'
import {EMPTY, type ExportValue, isNaiveTimestamp} from './excel-cell.js'
import {
  boolCellBody,
  dateCellBody,
  numberCellBody,
  numberTextCellBody,
  textCellBody,
  valueCellBody,
} from './xlsx/sheet-xml.js'

/** One column of a sheet: a typed database column, a column joined in, or a key of `extra`. */
export interface SheetColumn {
  header: string
  kind: 'uuid' | 'text' | 'number' | 'bool' | 'timestamp' | 'timestamptz' | 'array' | 'extra'
  /** The select-list alias it is read from. */
  alias: string
  /** The key of `extra` an extra column shows. */
  key?: string
  /** Allowed values of a CHECK constraint, shown as a list validation. */
  allowed?: readonly string[]
}

/** A database value (as the driver parsed it) as its cell body, without an intermediate value for common kinds. */
export function cellBody(value: unknown, column: SheetColumn): string {
  if (value === null || value === undefined) return ''
  switch (column.kind) {
    case 'number':
      return numberCellBody(typeof value === 'number' ? value : Number(value))
    case 'uuid':
    case 'text':
      return textCellBody(String(value))
    case 'bool':
      return boolCellBody(Boolean(value))
    case 'timestamp':
    case 'timestamptz':
      return dateCellBody(String(value))
    default:
      return valueCellBody(toExportValue(value, column))
  }
}

export function toExportValue(value: unknown, column: SheetColumn): ExportValue {
  if (value === null || value === undefined) return EMPTY
  switch (column.kind) {
    case 'number':
      return {kind: 'number', value: Number(value)}
    case 'bool':
      return {kind: 'bool', value: Boolean(value)}
    case 'timestamp':
    case 'timestamptz':
      return {kind: 'date', value: String(value)}
    case 'array':
      return {kind: 'text', value: `[${(value as unknown[]).map((n) => String(n)).join(', ')}]`}
    case 'extra':
      return fromExtra(value)
    default:
      return {kind: 'text', value: String(value)}
  }
}

/** A verbatim legacy value: numbers and booleans as such, date texts as dates, nested values as JSON text. */
function fromExtra(value: unknown): ExportValue {
  if (typeof value === 'number') return {kind: 'number', value}
  if (typeof value === 'boolean') return {kind: 'bool', value}
  if (typeof value === 'string')
    return isNaiveTimestamp(value) ? {kind: 'date', value} : {kind: 'text', value}
  return {kind: 'text', value: JSON.stringify(value)}
}

/*
 * COPY text format (`COPY ... TO STDOUT`): one row a line, fields split by tabs, `\N` for NULL, and backslash
 * escapes for backslash, tab, line feed, carriage return, backspace, form feed and vertical tab.
 */

/** COPY's NULL. */
export const COPY_NULL = '\\N'
const COPY_ESCAPES: Record<string, string> = {b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v'}
const FLOAT8_ARRAY = pg.types.getTypeParser(1022 as never, 'text') as (text: string) => unknown

/** A COPY field's text without its escapes. */
export function unescapeCopy(field: string): string {
  if (!field.includes('\\')) return field
  return field.replace(/\\(.)/gs, (_, c: string) => COPY_ESCAPES[c] ?? c)
}

/** A COPY field as the value the driver gives for the same column (for widths and the rarer kinds). */
export function copyFieldValue(field: string, column: SheetColumn): unknown {
  if (field === COPY_NULL) return null
  switch (column.kind) {
    case 'number':
      return Number(field)
    case 'bool':
      return field === 't'
    case 'array':
      return FLOAT8_ARRAY(unescapeCopy(field))
    case 'extra':
      return jsonOf(field)
    default:
      return unescapeCopy(field)
  }
}

/** A jsonb field's value: a JSON string without escapes is its inner text; anything else is parsed. */
function jsonOf(field: string): unknown {
  if (field.charCodeAt(0) === 0x22 && !field.includes('\\')) return field.slice(1, -1)
  return JSON.parse(unescapeCopy(field))
}

/**
 * How a column's COPY field becomes its cell body, giving the same cell the driver's value would: numbers pass
 * through as printed, booleans and timestamps are read from their text, text is unescaped and XML-escaped; arrays
 * and `extra` values go through the driver's parsing. The field is never `\N` (the caller skips NULLs).
 */
export function copyCellEncoder(column: SheetColumn): (field: string) => string {
  switch (column.kind) {
    case 'number':
      return numberTextCellBody
    case 'bool':
      return (field) => boolCellBody(field === 't')
    case 'timestamp':
    case 'timestamptz':
      return dateCellBody
    case 'uuid':
    case 'text':
      return (field) => textCellBody(unescapeCopy(field))
    default:
      return (field) => valueCellBody(toExportValue(copyFieldValue(field, column), column))
  }
}

/**
 * Whole lines of COPY output from its chunks: every chunk's complete lines at once (a row's raw line feeds are
 * escaped, so a line feed always ends a row), each ending in its line feed, the partial last line kept for the next
 * chunk.
 */
export async function* copyLines(chunks: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
  let rest: Buffer | null = null
  for await (const chunk of chunks) {
    let from = 0
    if (rest) {
      // Only the row cut between two chunks is copied, not the whole chunk.
      const first = chunk.indexOf(10)
      if (first < 0) {
        rest = Buffer.concat([rest, chunk])
        continue
      }
      yield Buffer.concat([rest, chunk.subarray(0, first + 1)])
      from = first + 1
    }
    const end = chunk.lastIndexOf(10)
    rest = end + 1 < chunk.length ? chunk.subarray(Math.max(end + 1, from)) : null
    if (end + 1 > from) yield chunk.subarray(from, end + 1)
  }
  if (rest) throw new Error('COPY output ended inside a row')
}

/** The lines of whole COPY lines (as `copyLines` gives them) as strings, without their line feeds. */
export function copyLineTexts(lines: Buffer): string[] {
  return lines.toString('utf8', 0, lines.length - 1).split('\n')
}
