import {stringify} from 'csv-stringify/sync'
import type {SqlColumn, SqlResultSink, StatementSummary} from './run-sql.js'

export type ResultFormat = 'table' | 'json' | 'csv' | 'tsv'

export interface ResultWriter extends SqlResultSink {
  /** Ends the output (the JSON array when no statement returned rows). */
  finish(): Promise<void>
}

/** Writes text and resolves when the destination has taken it (a pipe's back-pressure reaches the cursor). */
export type WriteText = (text: string) => Promise<void>

/** Writes to a stream, waiting for 'drain' when its buffer is full. */
export function streamWriter(stream: NodeJS.WritableStream): WriteText {
  return (chunk) =>
    new Promise((resolve) => {
      if (stream.write(chunk)) resolve()
      else stream.once('drain', () => resolve())
    })
}

const NUMERIC_TYPES = new Set([20, 21, 23, 26, 700, 701, 1700])
const NUMERIC = 1700

/** Rows written as they arrive, in one of the output formats of `aedb sql`. */
export function createResultWriter(format: ResultFormat, write: WriteText): ResultWriter {
  if (format === 'json') return jsonWriter(write)
  if (format === 'table') return tableWriter(write)
  return delimitedWriter(format === 'csv' ? ',' : '\t', write)
}

function jsonWriter(write: WriteText): ResultWriter {
  let columns: SqlColumn[] = []
  let keys: string[] = []
  let rowsWritten = 0
  let started = false
  return {
    async onColumns(c) {
      columns = c
      keys = uniqueNames(c.map((col) => col.name))
      rowsWritten = 0
      started = true
      await write('[')
    },
    async onRows(rows) {
      const text = rows
        .map((row) => {
          const object: Record<string, unknown> = {}
          keys.forEach((key, i) => {
            object[key] = toJsonValue(row[i], columns[i]!.typeId)
          })
          return `${rowsWritten++ === 0 ? '\n' : ',\n'}  ${JSON.stringify(object)}`
        })
        .join('')
      await write(text)
    },
    async onStatementEnd(summary) {
      if (summary.columns) await write(rowsWritten > 0 ? '\n]\n' : ']\n')
    },
    async finish() {
      if (!started) await write('[]\n')
    },
  }
}

function delimitedWriter(delimiter: string, write: WriteText): ResultWriter {
  return {
    async onColumns(columns) {
      await write(stringify([columns.map((c) => c.name)], {delimiter}))
    },
    async onRows(rows) {
      await write(
        stringify(
          rows.map((row) => row.map(toText)),
          {delimiter},
        ),
      )
    },
    onStatementEnd() {},
    async finish() {},
  }
}

/**
 * psql's aligned layout. Column widths come from the first batch of rows (later, wider values push their own row
 * only), so the first lines appear at once however large the result is.
 */
function tableWriter(write: WriteText): ResultWriter {
  let columns: SqlColumn[] = []
  let widths: number[] | null = null
  let results = 0
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => {
        const width = widths![i] ?? 0
        return NUMERIC_TYPES.has(columns[i]!.typeId) ? cell.padStart(width) : cell.padEnd(width)
      })
      .join(' | ')
      .trimEnd()
  const header = async (rows: string[][]) => {
    widths = columns.map((c, i) => Math.max(c.name.length, ...rows.map((r) => r[i]!.length)))
    await write(`${line(columns.map((c) => c.name))}\n${widths.map((w) => '-'.repeat(w)).join('-+-')}\n`)
  }
  return {
    async onColumns(c) {
      if (results++ > 0) await write('\n')
      columns = c
      widths = null
    },
    async onRows(rows) {
      const cells = rows.map((row) => row.map((value) => toText(value).replaceAll('\n', '\\n')))
      if (widths === null) await header(cells)
      await write(`${cells.map(line).join('\n')}\n`)
    },
    async onStatementEnd(summary: StatementSummary) {
      if (summary.columns === null) {
        await write(`${summary.command}${summary.rowCount === null ? '' : ` ${summary.rowCount}`}\n`)
        return
      }
      if (widths === null) await header([])
      await write(`(${summary.rowCount} ${summary.rowCount === 1 ? 'row' : 'rows'})\n`)
    },
    async finish() {},
  }
}

/** Two columns named alike (`select 1 as a, 2 as a`) both survive in a JSON object: the second becomes `a_2`. */
function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>()
  return names.map((name) => {
    const count = (seen.get(name) ?? 0) + 1
    seen.set(name, count)
    return count === 1 ? name : `${name}_${count}`
  })
}

/** A value for JSON: numbers as numbers (numeric too, when a double holds it exactly), times as ISO text. */
export function toJsonValue(value: unknown, typeId: number): unknown {
  if (typeId === NUMERIC && typeof value === 'string') return numericValue(value)
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`
  return value
}

function numericValue(text: string): number | string {
  const number = Number(text)
  const digits = text.replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '')
  return Number.isFinite(number) && digits.length <= 15 ? number : text
}

/** A value as text for the table, CSV and TSV: empty for NULL, JSON for json/jsonb and arrays. */
export function toText(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}
