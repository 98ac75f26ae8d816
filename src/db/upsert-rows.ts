import {CompiledQuery, type Kysely, sql} from 'kysely'
import {contentColumns, rowContentHash} from './row-content-hash.js'
import {type Database, IMPORTED_TABLES, type ImportedTable, SCHEMA, type TableName} from './schema.js'

export interface UpsertCounts {
  inserted: number
  updated: number
  unchanged: number
  /** Rows of the source's scope no longer in the source (deleteStaleRows); upsertRows itself never deletes. */
  deleted: number
}

/** Counts of a deleteStaleRows call, to add to a table's upsert counts. */
export function deletedCounts(deleted: number): UpsertCounts {
  return {inserted: 0, updated: 0, unchanged: 0, deleted}
}

export interface UpsertRowsProps<T extends TableName> {
  db: Kysely<Database>
  table: T
  rows: ReadonlyArray<Record<string, unknown>>
  /** The natural key: the columns of the table's UNIQUE constraint. */
  conflict: readonly string[]
  /**
   * Columns compared to tell an unchanged row from an updated one. Defaults to `content_hash` where the table has
   * one, else every written column except run_id. An unchanged row is not touched at all (updated_at stays).
   */
  compare?: readonly string[]
}

const CHUNK_ROWS = 5000
const NEVER_UPDATED = new Set(['id', 'created_at'])

/** The outcome of an upsert per row: the ids inserted and the ids updated (the others were unchanged). */
export interface UpsertOutcome {
  counts: UpsertCounts
  inserted: Set<string>
  updated: Set<string>
}

/**
 * One batched `INSERT ... SELECT FROM unnest(...) ON CONFLICT (natural key) DO UPDATE ... WHERE changed` per chunk:
 * one bind parameter per column (so no 65,535-parameter ceiling), the same SQL on PGlite and PostgreSQL.
 */
export async function upsertRows<T extends TableName>(props: UpsertRowsProps<T>): Promise<UpsertCounts> {
  return (await upsertRowsReporting(props)).counts
}

/** upsertRows, also saying which rows (by id) it inserted and which it updated. */
export async function upsertRowsReporting<T extends TableName>(
  props: UpsertRowsProps<T>,
): Promise<UpsertOutcome> {
  const outcome: UpsertOutcome = {
    counts: {inserted: 0, updated: 0, unchanged: 0, deleted: 0},
    inserted: new Set(),
    updated: new Set(),
  }
  if (props.rows.length === 0) return outcome
  const spec = SCHEMA[props.table] as Record<string, string>
  const columns = checkedColumns(props, spec)
  const text = upsertSql(props, spec, columns)
  // Code-unit order, the order of the ids' locale collation too (lowercase uuids), at a fraction of its cost.
  const rows = [...(await hashKeptColumns(props, columns))].sort((a, b) =>
    compareIds(String(a.id ?? ''), String(b.id ?? '')),
  )
  for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
    const chunk = rows.slice(start, start + CHUNK_ROWS)
    const params = columns.map((column) => toArrayLiteral(chunk.map((row) => row[column])))
    const result = await props.db.executeQuery<{id: unknown; inserted: boolean}>(
      CompiledQuery.raw(text, params),
    )
    for (const r of result.rows) (r.inserted ? outcome.inserted : outcome.updated).add(String(r.id))
    const inserted = result.rows.filter((r) => r.inserted).length
    outcome.counts.inserted += inserted
    outcome.counts.updated += result.rows.length - inserted
    outcome.counts.unchanged += chunk.length - result.rows.length
  }
  return outcome
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * A row that lacks some of its table's content columns (a legacy layout without them) leaves those columns of an
 * existing row as they are, so the content hash it stores must cover the values kept: for such rows that already
 * exist (same id, which is derived from the natural key), the hash is recomputed over the row with the kept values.
 * Otherwise `verify` would report every such row as edited outside aedb; running again gives the same hash.
 */
async function hashKeptColumns<T extends TableName>(
  props: UpsertRowsProps<T>,
  columns: readonly string[],
): Promise<ReadonlyArray<Record<string, unknown>>> {
  const table = props.table as string as ImportedTable
  if (!(IMPORTED_TABLES as readonly string[]).includes(table)) return props.rows
  if (!columns.includes('id') || !columns.includes('content_hash')) return props.rows
  const kept = contentColumns(table).filter((column) => !columns.includes(column))
  if (kept.length === 0) return props.rows
  const existing = new Map<string, Record<string, unknown>>()
  for (let start = 0; start < props.rows.length; start += CHUNK_ROWS) {
    const ids = props.rows.slice(start, start + CHUNK_ROWS).map((row) => row.id)
    const {rows} = await sql<Record<string, unknown>>`select id, ${sql.join(kept.map((c) => sql.ref(c)))}
      from ${sql.table(table)} where id = any(${toArrayLiteral(ids)}::uuid[])`.execute(props.db)
    for (const row of rows) existing.set(String(row.id), row)
  }
  if (existing.size === 0) return props.rows
  return props.rows.map((row) => {
    const before = existing.get(String(row.id))
    return before ? {...row, content_hash: rowContentHash(table, {...before, ...row})} : row
  })
}

function checkedColumns(props: UpsertRowsProps<TableName>, spec: Record<string, string>): string[] {
  const columns = Object.keys(props.rows[0]!)
  for (const column of columns) {
    if (!(column in spec)) throw new Error(`upsertRows: ${props.table} has no column ${column}`)
  }
  for (const row of props.rows) {
    if (Object.keys(row).length !== columns.length || !columns.every((c) => c in row)) {
      throw new Error(`upsertRows: every row of one batch must have the same columns (${props.table})`)
    }
  }
  return columns
}

function upsertSql(
  props: UpsertRowsProps<TableName>,
  spec: Record<string, string>,
  columns: string[],
): string {
  const compare =
    props.compare ??
    ('content_hash' in spec
      ? ['content_hash']
      : columns.filter((c) => c !== 'run_id' && !props.conflict.includes(c) && c !== 'id'))
  const updates = columns.filter((c) => !NEVER_UPDATED.has(c) && !props.conflict.includes(c))
  const casts = columns.map((column) => `u.${quote(column)}::${castType(spec[column]!)}`)
  const table = quote(props.table)
  const tuple = (prefix: string) =>
    `${compare.map((c) => `${prefix}.${quote(c)}`).join(', ')}${compare.length === 1 ? ', null' : ''}`
  const action =
    updates.length === 0 || compare.length === 0
      ? 'nothing'
      : `update set ${updates.map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ')}
  where (${tuple(table)}) is distinct from (${tuple('excluded')})`
  return `insert into ${table} (${columns.map(quote).join(', ')})
select ${casts.join(', ')}
from unnest(${columns.map((_, i) => `$${i + 1}::text[]`).join(', ')}) as u(${columns.map(quote).join(', ')})
on conflict (${props.conflict.map(quote).join(', ')}) do ${action}
returning ${'id' in spec ? 'id' : 'null'} as id, (xmax = 0) as inserted`
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`
}

function castType(columnSpec: string): string {
  const udt = columnSpec.replace(/[?=]/g, '')
  return udt === '_float8' ? 'float8[]' : udt
}

/** A PostgreSQL array literal of text elements: every value sent as text and cast server-side. */
export function toArrayLiteral(values: readonly unknown[]): string {
  // One string grown in place: no array of element strings to join, less garbage.
  let out = '{'
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ','
    out += elementLiteral(values[i])
  }
  return `${out}}`
}

const NEEDS_ESCAPE = /["\\]/

function elementLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  // A number's text (digits, '.', 'e', signs, NaN, Infinity) needs no quotes: array_in reads it back unchanged.
  if (typeof value === 'number') return numberText(value)
  const text = textOf(value)
  // Most values hold neither a quote nor a backslash: skip the two replaceAll passes over them.
  return NEEDS_ESCAPE.test(text) ? `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"` : `"${text}"`
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number') return numberText(value)
  if (typeof value === 'boolean') return value ? 't' : 'f'
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value))
    return `{${value.map((v) => (v === null ? 'NULL' : numberText(Number(v)))).join(',')}}`
  return JSON.stringify(value)
}

function numberText(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return 'Infinity'
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity'
  return String(value)
}

export interface DeleteStaleRowsProps {
  db: Kysely<Database>
  table: TableName
  /** The parent column and value that scope the rows one import owns (e.g. processing_log_id). */
  scope: {column: string; value: string}
  /** Ids written by this import; every other row in scope is gone from the source and is deleted (audited). */
  keepIds: readonly string[]
}

export async function deleteStaleRows(props: DeleteStaleRowsProps): Promise<number> {
  const text = `delete from ${quote(props.table)} where ${quote(props.scope.column)} = $1::uuid and not (id = any($2::uuid[]))`
  const result = await props.db.executeQuery(
    CompiledQuery.raw(text, [props.scope.value, toArrayLiteral(props.keepIds)]),
  )
  return Number(result.numAffectedRows ?? 0n)
}

export interface DeleteStaleRowsOfManyProps {
  db: Kysely<Database>
  table: TableName
  /** The parent column that scopes the rows one import owns, and the parents written (e.g. processing_log_id). */
  parentColumn: string
  parents: readonly string[]
  /** Ids written under any of these parents; every other row under them is deleted (audited). */
  keepIds: readonly string[]
}

/** deleteStaleRows for many parents in one statement: how many rows were deleted under each parent. */
export async function deleteStaleRowsOfMany(props: DeleteStaleRowsOfManyProps): Promise<Map<string, number>> {
  const removed = new Map<string, number>()
  if (props.parents.length === 0) return removed
  const column = quote(props.parentColumn)
  const text = `delete from ${quote(props.table)} where ${column} = any($1::uuid[]) and not (id = any($2::uuid[]))
returning ${column} as parent`
  const result = await props.db.executeQuery<{parent: string}>(
    CompiledQuery.raw(text, [toArrayLiteral(props.parents), toArrayLiteral(props.keepIds)]),
  )
  for (const r of result.rows) removed.set(r.parent, (removed.get(r.parent) ?? 0) + 1)
  return removed
}
