import {contentHash} from './deterministic-id.js'
import {type ImportedTable, SCHEMA} from './schema.js'

/**
 * Columns that say when and by which run a row was written, or are the hash itself: never part of the content.
 * Nor is the file a row was read from: the same content read from a copy of the log (an export-excel legacy
 * export, a moved tree) is unchanged, and the row keeps pointing at its first source.
 */
const NOT_CONTENT = new Set(['id', 'content_hash', 'run_id', 'created_at', 'updated_at', 'source_file_id'])

/**
 * The content of an imported row as the hash sees it: every content column of the table (absent ones as null),
 * each value in the one form it has both before it is written and after it is read back from either backend.
 * Importers hash what they write with it and `verify` hashes what it reads back, so a clean import hashes equal
 * and a hand edit does not.
 */
export function rowHashInput(
  table: ImportedTable,
  row: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [column, udt] of hashedColumns(table)) out[column] = canonicalValue(udt, row[column])
  return out
}

const HASHED_COLUMNS = new Map<ImportedTable, ReadonlyArray<readonly [string, string]>>()

/** Each content column of a table with its type name, worked out once per table rather than once per row. */
function hashedColumns(table: ImportedTable): ReadonlyArray<readonly [string, string]> {
  let columns = HASHED_COLUMNS.get(table)
  if (!columns) {
    columns = Object.entries(SCHEMA[table] as Record<string, string>)
      .filter(([column]) => !NOT_CONTENT.has(column))
      .map(([column, spec]) => [column, spec.replace(/[?=]/g, '')] as const)
    HASHED_COLUMNS.set(table, columns)
  }
  return columns
}

/** The columns of a table the content hash covers. */
export function contentColumns(table: ImportedTable): string[] {
  return Object.keys(SCHEMA[table]).filter((column) => !NOT_CONTENT.has(column))
}

export function rowContentHash(table: ImportedTable, row: Readonly<Record<string, unknown>>): string {
  return contentHash(rowHashInput(table, row))
}

function canonicalValue(udt: string, value: unknown): unknown {
  if (value === null || value === undefined) return null
  switch (udt) {
    case 'int4':
    case 'int8':
    case 'float8':
      return Number(value)
    case 'bool':
      return value === true || value === 't' || value === 'true'
    case 'jsonb':
      // What jsonb gives back: parsed, non-finite numbers as null, key order irrelevant (contentHash sorts keys).
      return JSON.parse(typeof value === 'string' ? value : JSON.stringify(value))
    case 'timestamp':
      return naiveTimestamp(value)
    case 'timestamptz':
      return value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString()
    case '_float8':
      return (value as unknown[]).map((v) => (v === null ? null : Number(v)))
    default:
      return typeof value === 'boolean' ? (value ? 't' : 'f') : String(value)
  }
}

/** A timestamp without time zone as PostgreSQL prints it: `YYYY-MM-DD HH:MM:SS[.ffffff]`, no trailing zeros. */
function naiveTimestamp(value: unknown): string {
  const text = value instanceof Date ? value.toISOString().replace('Z', '') : String(value)
  const match = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?)?$/.exec(text)
  if (!match) return text
  const micros = match[3] ? match[3].padEnd(6, '0').slice(0, 6).replace(/0+$/, '') : ''
  return `${match[1]} ${match[2] ?? '00:00:00'}${micros ? `.${micros}` : ''}`
}
