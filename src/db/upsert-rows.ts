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
  const kept = await hashKeptColumns(props, columns)
  const rows = [...kept.rows].sort((a, b) => compareIds(String(a.id ?? ''), String(b.id ?? '')))
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
  countRestored(outcome, kept.restored)
  return outcome
}

/** A row whose kept columns were put back was updated, even where the upsert then found its written ones equal. */
function countRestored(outcome: UpsertOutcome, restored: ReadonlySet<string>): void {
  for (const id of restored) {
    if (outcome.inserted.has(id) || outcome.updated.has(id)) continue
    outcome.updated.add(id)
    outcome.counts.updated++
    outcome.counts.unchanged--
  }
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** What hashKeptColumns hands on: the rows to write, and the ids of rows whose kept columns it put back. */
interface KeptRows {
  rows: ReadonlyArray<Record<string, unknown>>
  restored: ReadonlySet<string>
}

/**
 * A row that lacks some of its table's content columns (a legacy layout without them) leaves those columns of an
 * existing row as they are, so the content hash it stores must cover the values kept: for such rows that already
 * exist (same id, which is derived from the natural key), the hash is recomputed over the row with the kept values.
 * Otherwise `verify` would report every such row as edited outside aedb; running again gives the same hash.
 *
 * A kept value is only trusted while the row still hashes to its stored content_hash. A row edited outside aedb
 * (verify's ROW_EDITED) would otherwise have the edit blessed by the new hash: its kept columns are first put back
 * to the values aedb's importers last wrote (audit_log), and where audit_log no longer has one, the row keeps the
 * hash it was imported with, so that verify goes on reporting it until it is set back by hand.
 */
async function hashKeptColumns<T extends TableName>(
  props: UpsertRowsProps<T>,
  columns: readonly string[],
): Promise<KeptRows> {
  const unchanged: KeptRows = {rows: props.rows, restored: new Set()}
  const table = props.table as string as ImportedTable
  if (!(IMPORTED_TABLES as readonly string[]).includes(table)) return unchanged
  if (!columns.includes('id') || !columns.includes('content_hash')) return unchanged
  const kept = contentColumns(table).filter((column) => !columns.includes(column))
  if (kept.length === 0) return unchanged
  const existing = await readExistingRows(props.db, table, props.rows)
  if (existing.size === 0) return unchanged
  const edited = [...existing.values()].filter((row) => rowContentHash(table, row) !== row.content_hash)
  const {restored, unknown} = await restoreKeptColumns(props.db, table, kept, edited)
  for (const row of restored) existing.set(String(row.id), row)
  const rows = props.rows.map((row) => {
    const before = existing.get(String(row.id))
    if (!before) return row
    const hash = unknown.has(String(before.id))
      ? before.content_hash
      : rowContentHash(table, {...before, ...row})
    return {...row, content_hash: hash}
  })
  return {rows, restored: new Set(restored.map((row) => String(row.id)))}
}

/** The rows of this batch already in the table, by id, with every column verify hashes. */
async function readExistingRows(
  db: Kysely<Database>,
  table: ImportedTable,
  rows: ReadonlyArray<Record<string, unknown>>,
): Promise<Map<string, Record<string, unknown>>> {
  const existing = new Map<string, Record<string, unknown>>()
  const read = ['id', 'content_hash', ...contentColumns(table)]
  for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
    const ids = rows.slice(start, start + CHUNK_ROWS).map((row) => row.id)
    const found = await sql<Record<string, unknown>>`select ${sql.join(read.map((c) => sql.ref(c)))}
      from ${sql.table(table)} where id = any(${toArrayLiteral(ids)}::uuid[])`.execute(db)
    for (const row of found.rows) existing.set(String(row.id), row)
  }
  return existing
}

/** The runs whose writes are a source's own values: an edit by `aedb sql --write` or by no run at all is not. */
const IMPORTING_COMMANDS = ['backfill-excel', 'import-json']

interface RestoredKeptColumns {
  /** The edited rows whose kept columns were put back (only those that differed), as read back after the update. */
  restored: Array<Record<string, unknown>>
  /** Ids of edited rows with a kept column audit_log has no importer's value for: their edit cannot be undone. */
  unknown: ReadonlySet<string>
}

/**
 * Puts each kept column of rows edited outside aedb back to the value an importer last wrote to it, as audit_log
 * recorded it (the jsonb of the row, read back into the column's type by jsonb_populate_record). Two statements per
 * chunk of edited rows, and none at all when no row was edited.
 */
async function restoreKeptColumns(
  db: Kysely<Database>,
  table: ImportedTable,
  kept: readonly string[],
  edited: ReadonlyArray<Record<string, unknown>>,
): Promise<RestoredKeptColumns> {
  const restored: Array<Record<string, unknown>> = []
  const unknown = new Set<string>()
  for (let start = 0; start < edited.length; start += CHUNK_ROWS) {
    const ids = edited.slice(start, start + CHUNK_ROWS).map((row) => String(row.id))
    const written = await readImportedValues(db, table, kept, ids)
    const known: Array<[string, Record<string, unknown>]> = []
    for (const id of ids) {
      const values = written.get(id) ?? {}
      if (kept.some((column) => !(column in values))) unknown.add(id)
      if (Object.keys(values).length > 0) known.push([id, values])
    }
    if (known.length > 0) restored.push(...(await writeImportedValues(db, table, kept, known)))
  }
  return {restored, unknown}
}

/** Per row id, the kept columns' values an importer last wrote (a column no importer's write names is absent). */
async function readImportedValues(
  db: Kysely<Database>,
  table: ImportedTable,
  kept: readonly string[],
  ids: readonly string[],
): Promise<Map<string, Record<string, unknown>>> {
  // A jsonb key holding null gives jsonb 'null', not SQL NULL: `is not null` tells a column written as null from one
  // the entry does not name (an update's entry names only the columns it changed).
  const {rows} = await sql<{row_id: string; column_name: string; value: string}>`
    select distinct on (a.row_id, k.column_name) a.row_id, k.column_name, (a.new_values -> k.column_name)::text as value
    from audit_log a
    join runs r on r.id = a.run_id
    cross join unnest(${toArrayLiteral(kept)}::text[]) as k(column_name)
    where a.table_name = ${table} and a.row_id = any(${toArrayLiteral(ids)}::uuid[])
      and a.operation in ('insert', 'update') and r.command = any(${toArrayLiteral(IMPORTING_COMMANDS)}::text[])
      and a.new_values -> k.column_name is not null
    order by a.row_id, k.column_name, a.id desc`.execute(db)
  const values = new Map<string, Record<string, unknown>>()
  for (const r of rows) {
    const row = values.get(r.row_id) ?? {}
    row[r.column_name] = JSON.parse(r.value)
    values.set(r.row_id, row)
  }
  return values
}

/** Sets the kept columns named in each row's values (others stay); returns the rows that changed, read back. */
async function writeImportedValues(
  db: Kysely<Database>,
  table: ImportedTable,
  kept: readonly string[],
  known: ReadonlyArray<readonly [string, Record<string, unknown>]>,
): Promise<Array<Record<string, unknown>>> {
  const target = sql.table(table)
  const value = (column: string) =>
    sql`case when r.v -> ${column} is not null then (jsonb_populate_record(null::${target}, r.v)).${sql.ref(column)} else t.${sql.ref(column)} end`
  const read = ['id', 'content_hash', ...contentColumns(table)]
  const {rows} = await sql<Record<string, unknown>>`
    update ${target} as t set ${sql.join(kept.map((c) => sql`${sql.ref(c)} = ${value(c)}`))}
    from unnest(${toArrayLiteral(known.map(([id]) => id))}::uuid[],
      ${toArrayLiteral(known.map(([, v]) => JSON.stringify(v)))}::jsonb[]) as r(id, v)
    where t.id = r.id
      and (${sql.join(kept.map((c) => sql`t.${sql.ref(c)}`))}, null) is distinct from (${sql.join(kept.map(value))}, null)
    returning ${sql.join(read.map((c) => sql`t.${sql.ref(c)}`))}`.execute(db)
  return rows
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
