import {quoteIdent} from '../db/connection.js'
import {AedbError, EXIT} from '../errors.js'
import type {TableHeader} from './backup-format.js'
import type {OwnedTable} from './owned-tables.js'

/** Characters that COPY's text format escapes inside a value (backslash, and the row and column separators). */
const NEEDS_ESCAPE = /[\\\n\r\t]/
const ESCAPABLE = /[\\\n\r\t]/g
const ESCAPES: Record<string, string> = {'\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t'}

/**
 * The start of the COPY for one backed-up table (`copy "t" ("a", "b") from`), the caller adds `stdin` or a file.
 * Each value reaches the column type's own input function, as the `::type` cast of an INSERT would, so the
 * round trip is the same; COPY keeps identity values as given (like OVERRIDING SYSTEM VALUE).
 */
export function copyStatement(header: TableHeader, target: OwnedTable | undefined, file: string): string {
  const names = new Set(target?.columns.map((c) => c.name))
  const missing = header.columns.filter((c) => !names.has(c.name)).map((c) => c.name)
  if (!target || missing.length > 0) {
    throw new AedbError(
      `${file} does not fit the schema it names: ${target ? `table ${header.table} has no column(s) ${missing.join(', ')}` : `there is no table ${header.table}`}.`,
      {
        code: 'BACKUP_SCHEMA_MISMATCH',
        exit: EXIT.PROBLEMS,
        suggestions: ['The backup was edited or written by a modified aedb; use another backup.'],
      },
    )
  }
  return `copy ${quoteIdent(header.table)} (${header.columns.map((c) => quoteIdent(c.name)).join(', ')}) from`
}

/**
 * Backup row lines (JSON arrays of each column's text or null) as rows of COPY's text format: tab-separated,
 * `\N` for NULL, backslash escapes for backslash, tab, CR and LF; one "\n"-terminated row per line. A line that is
 * not an array of `columns` strings or nulls is refused rather than loaded shifted.
 */
export function copyTextRows(lines: readonly string[], columns: number, onBadLine: () => never): string {
  let out = ''
  for (const line of lines) {
    let values: unknown
    try {
      values = JSON.parse(line)
    } catch {
      onBadLine()
    }
    if (!Array.isArray(values) || values.length !== columns) onBadLine()
    for (let i = 0; i < columns; i++) {
      const value: unknown = values[i]
      if (i > 0) out += '\t'
      if (value === null) out += '\\N'
      else if (typeof value !== 'string') onBadLine()
      else out += NEEDS_ESCAPE.test(value) ? value.replace(ESCAPABLE, (c) => ESCAPES[c]!) : value
    }
    out += '\n'
  }
  return out
}
