import {type Kysely, sql} from 'kysely'
import {quoteIdent} from '../db/connection.js'
import {MIGRATION_TABLE} from '../db/migrator.js'
import {TABLES} from '../db/schema.js'
import type {BackupColumn} from './backup-format.js'

// biome-ignore lint/suspicious/noExplicitAny: the catalog is read before (and while) the schema changes.
type AnyDb = Kysely<any>

export interface OwnedTable {
  name: string
  columns: Array<BackupColumn & {identity: boolean; collatable: boolean}>
  primaryKey: string[]
  /** Tables this one references (foreign keys), itself excluded. */
  references: string[]
}

/**
 * The tables aedb owns, read from the live catalog (so tables added by later migrations are included without a
 * list to keep up to date), parents before children. The migrations bookkeeping table travels in the backup header.
 */
export async function readOwnedTables(db: AnyDb): Promise<{tables: OwnedTable[]; ignored: string[]}> {
  const names = await sql<{name: string}>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relkind in ('r', 'p') and not c.relispartition
    order by c.relname`.execute(db)
  const known = new Set<string>(TABLES)
  const all = names.rows.map((r) => r.name).filter((name) => name !== MIGRATION_TABLE)
  const ownedNames = all.filter((name) => known.has(name) || name.startsWith('aedb_'))
  const ignored = all.filter((name) => !ownedNames.includes(name))
  const [columns, keys, references] = await Promise.all([
    readColumns(db),
    readPrimaryKeys(db),
    readReferences(db),
  ])
  const tables = ownedNames.map((name) => ({
    name,
    columns: columns.get(name) ?? [],
    primaryKey: keys.get(name) ?? [],
    references: [...new Set(references.get(name) ?? [])].filter((r) => r !== name && ownedNames.includes(r)),
  }))
  return {tables: orderByDependencies(tables), ignored}
}

async function readColumns(db: AnyDb): Promise<Map<string, OwnedTable['columns']>> {
  const {rows} = await sql<{
    table: string
    name: string
    type: string
    identity: boolean
    collatable: boolean
  }>`
    select c.relname as table, a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
      a.attidentity <> '' as identity, t.typcollation <> 0 as collatable
    from pg_attribute a
      join pg_class c on c.oid = a.attrelid
      join pg_namespace n on n.oid = c.relnamespace
      join pg_type t on t.oid = a.atttypid
    where n.nspname = current_schema() and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
      and a.attgenerated = ''
    order by c.relname, a.attnum`.execute(db)
  return groupBy(
    rows,
    (r) => r.table,
    ({name, type, identity, collatable}) => ({
      name,
      type,
      identity,
      collatable,
    }),
  )
}

async function readPrimaryKeys(db: AnyDb): Promise<Map<string, string[]>> {
  const {rows} = await sql<{table: string; name: string}>`
    select c.relname as table, a.attname as name
    from pg_index i
      join pg_class c on c.oid = i.indrelid
      join pg_namespace n on n.oid = c.relnamespace
      cross join lateral unnest(i.indkey) with ordinality as k(attnum, position)
      join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
    where n.nspname = current_schema() and i.indisprimary
    order by c.relname, k.position`.execute(db)
  return groupBy(
    rows,
    (r) => r.table,
    (r) => r.name,
  )
}

async function readReferences(db: AnyDb): Promise<Map<string, string[]>> {
  const {rows} = await sql<{table: string; references: string}>`
    select c.relname as table, r.relname as references
    from pg_constraint k
      join pg_class c on c.oid = k.conrelid
      join pg_class r on r.oid = k.confrelid
      join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and k.contype = 'f'
    order by 1, 2`.execute(db)
  return groupBy(
    rows,
    (r) => r.table,
    (r) => r.references,
  )
}

/** Parents first (Kahn's algorithm, ties by name so the order is stable); a cycle, if any, goes last by name. */
export function orderByDependencies(tables: OwnedTable[]): OwnedTable[] {
  const ordered: OwnedTable[] = []
  const placed = new Set<string>()
  let remaining = [...tables].sort((a, b) => a.name.localeCompare(b.name))
  while (remaining.length > 0) {
    const ready = remaining.filter((t) => t.references.every((r) => placed.has(r)))
    const next = ready.length > 0 ? ready : remaining.slice(0, 1)
    for (const table of next) {
      ordered.push(table)
      placed.add(table.name)
    }
    remaining = remaining.filter((t) => !placed.has(t.name))
  }
  return ordered
}

/**
 * The query giving one table's rows as backup lines: a JSON array of each column's text, ordered by the primary
 * key (byte order for text keys, so PGlite and a server with another collation order them alike).
 */
export function rowLinesQuery(table: OwnedTable): string {
  return `select ${rowLineExpression(table)} as line from ${quoteIdent(table.name)} order by ${rowOrder(table)}`
}

/** The order of a table's backup lines: its primary key (all columns without one), text in byte order. */
export function rowOrder(table: OwnedTable): string {
  const keyColumns = table.primaryKey.length > 0 ? table.primaryKey : table.columns.map((c) => c.name)
  return keyColumns
    .map((name) => {
      const column = table.columns.find((c) => c.name === name)
      return `${quoteIdent(name)}${column?.collatable ? ' collate "C"' : ''}`
    })
    .join(', ')
}

/** One row of the table as its backup line: a JSON array of each column's text (null for NULL). */
export function rowLineExpression(table: Pick<OwnedTable, 'columns'>): string {
  const values = table.columns.map((c) => `${quoteIdent(c.name)}::text`).join(', ')
  return `array_to_json(array[${values}]::text[])::text`
}

function groupBy<R, V>(rows: R[], key: (row: R) => string, value: (row: R) => V): Map<string, V[]> {
  const out = new Map<string, V[]>()
  for (const row of rows) {
    const k = key(row)
    const list = out.get(k) ?? []
    list.push(value(row))
    out.set(k, list)
  }
  return out
}
