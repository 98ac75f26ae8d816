import ExcelJS from 'exceljs'
import {type Kysely, type RawBuilder, sql, type Transaction} from 'kysely'
import {type Database, SCHEMA} from '../db/schema.js'
import {markAedbWorkbook} from '../importers/excel/is-aedb-written-workbook.js'
import {EMPTY, type ExportValue, isNaiveTimestamp, writeCell} from './excel-cell.js'
import type {ExportFilter, ExportProgress, SheetCounts} from './export-types.js'
import {
  EXPORTABLE_TABLES,
  type ExportableTable,
  JOINED_COLUMNS,
  MEDIA_TABLES,
  tableQuery,
} from './table-queries.js'
import {README_SHEET, type ReadmeProps, writeReadme} from './write-readme.js'

export interface WriteTablesWorkbookProps {
  db: Kysely<Database>
  file: string
  filter: ExportFilter
  /** Only these tables; default every exportable table with rows for the filter. */
  tables?: readonly string[]
  source: {database: string; aedbVersion: string}
  dryRun?: boolean
  onProgress?: (progress: ExportProgress) => void
}

export interface WriteTablesWorkbookResult {
  sheets: SheetCounts
  rows: number
}

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

const BATCH_ROWS = 5000
const MAX_WIDTH = 60
const MIN_WIDTH = 8
/** Keys of `extra` go into the select list as `x0`, `x1`, …: legacy headers are not valid aliases. */
const EXTRA_PREFIX = 'x'

/**
 * The tables layout: a README sheet first, then one sheet per table with rows for the filter. Rows are read with
 * a cursor in batches of 5,000 and each committed to the streaming writer as it is written, so memory stays flat.
 */
export async function writeTablesWorkbook(
  props: WriteTablesWorkbookProps,
): Promise<WriteTablesWorkbookResult> {
  const tables = chooseTables(props.tables, props.filter)
  const enums = await readEnumerations(props.db)
  const plans: Array<{table: ExportableTable; rows: number; columns: SheetColumn[]}> = []
  for (const table of tables) {
    const rows = await countRows(props.db, table, props.filter)
    if (rows === 0) continue
    plans.push({table, rows, columns: await sheetColumns(props.db, table, props.filter, enums)})
  }
  const total = plans.reduce((n, p) => n + p.rows, 0)
  const result: WriteTablesWorkbookResult = {sheets: {}, rows: 0}
  if (props.dryRun) {
    for (const plan of plans) result.sheets[plan.table] = plan.rows
    result.rows = total
    return result
  }
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({
    filename: props.file,
    useStyles: true,
    useSharedStrings: false,
  })
  // Added first so it is the first sheet; its rows are committed last, once every count is known.
  const readme = workbook.addWorksheet(README_SHEET)
  await props.db.transaction().execute(async (trx) => {
    for (const plan of plans) {
      const written = await writeTableSheet(trx, workbook, plan.table, plan.columns, props.filter, (n) =>
        props.onProgress?.({done: result.rows + n, total, rows: result.rows + n, current: plan.table}),
      )
      result.sheets[plan.table] = written
      result.rows += written
    }
  })
  const readmeProps: ReadmeProps = {
    source: props.source,
    filter: props.filter,
    sheets: plans.map((p) => ({table: p.table, rows: result.sheets[p.table] ?? 0, columns: p.columns})),
  }
  writeReadme(readme, readmeProps)
  // Marks the workbook as aedb's own table export, so backfill-excel never takes it for a processing log.
  markAedbWorkbook(workbook as unknown as Parameters<typeof markAedbWorkbook>[0], 'tables')
  await workbook.commit()
  return result
}

function chooseTables(asked: readonly string[] | undefined, filter: ExportFilter): ExportableTable[] {
  if (asked && asked.length > 0) return EXPORTABLE_TABLES.filter((t) => asked.includes(t))
  const kneeFiltered = filter.studies.length > 0 || filter.participants.length > 0
  const mediaFiltered = filter.profiles.length > 0
  // A filter on one side narrows the export to that side unless the other side is filtered too.
  return EXPORTABLE_TABLES.filter((t) =>
    MEDIA_TABLES.has(t) ? mediaFiltered || !kneeFiltered : kneeFiltered || !mediaFiltered,
  )
}

async function countRows(
  db: Kysely<Database>,
  table: ExportableTable,
  filter: ExportFilter,
): Promise<number> {
  const {rows} = await sql<{n: number}>`select count(*)::int as n ${tableQuery(table, filter).from}`.execute(
    db,
  )
  return rows[0]!.n
}

/** Typed columns from the schema (extra left out), joined columns, then every key of `extra` in use, sorted. */
async function sheetColumns(
  db: Kysely<Database>,
  table: ExportableTable,
  filter: ExportFilter,
  enums: Map<string, readonly string[]>,
): Promise<SheetColumn[]> {
  const spec = SCHEMA[table] as Record<string, string>
  const columns: SheetColumn[] = []
  for (const [column, type] of Object.entries(spec)) {
    if (column === 'extra') continue
    const allowed = enums.get(`${table}.${column}`)
    columns.push({header: column, kind: kindOf(type), alias: column, ...(allowed ? {allowed} : {})})
  }
  for (const [alias, , type] of JOINED_COLUMNS[table] ?? [])
    columns.push({header: alias, kind: kindOf(type), alias})
  if ('extra' in spec) {
    const {rows} = await sql<{key: string}>`select distinct jsonb_object_keys(t.extra) as key
      ${tableQuery(table, filter).from}`.execute(db)
    const taken = new Set(columns.map((c) => c.header))
    for (const [i, key] of rows
      .map((r) => r.key)
      .sort()
      .entries()) {
      const header = taken.has(key) ? `${key} (extra)` : key
      columns.push({header, kind: 'extra', alias: `${EXTRA_PREFIX}${i}`, key})
    }
  }
  return columns
}

function kindOf(type: string): SheetColumn['kind'] {
  const udt = type.replace(/[?=]/g, '')
  if (udt === 'uuid') return 'uuid'
  if (udt === 'int4' || udt === 'int8' || udt === 'float8') return 'number'
  if (udt === 'bool') return 'bool'
  if (udt === 'timestamp') return 'timestamp'
  if (udt === 'timestamptz') return 'timestamptz'
  if (udt === '_float8') return 'array'
  return 'text'
}

/** `column in ('a', 'b')` CHECK constraints of the catalog, by `table.column`: the enumerations to validate. */
async function readEnumerations(db: Kysely<Database>): Promise<Map<string, readonly string[]>> {
  const {rows} = await sql<{table: string; def: string}>`
    select c.conrelid::regclass::text as table, pg_get_constraintdef(c.oid) as def
    from pg_constraint c where c.contype = 'c' and c.connamespace = current_schema()::regnamespace`.execute(
    db,
  )
  const out = new Map<string, readonly string[]>()
  for (const row of rows) {
    const match = /\(+(\w+) = ANY \(+ARRAY\[(.*?)\]\)+/.exec(row.def)
    if (!match) continue
    const values = [...match[2]!.matchAll(/'((?:[^']|'')*)'::text/g)].map((m) => m[1]!.replaceAll("''", "'"))
    if (values.length > 0)
      out.set(`${row.table.replace(/^.*\./, '').replaceAll('"', '')}.${match[1]}`, values)
  }
  return out
}

function selectList(table: ExportableTable, columns: SheetColumn[]): RawBuilder<unknown> {
  const joined = new Map((JOINED_COLUMNS[table] ?? []).map(([alias, expression]) => [alias, expression]))
  return sql.join(
    columns.map((c) => {
      if (c.kind === 'extra') return sql`t.extra -> ${c.key!} as ${sql.ref(c.alias)}`
      const source = joined.has(c.alias) ? sql.raw(joined.get(c.alias)!) : sql.ref(`t.${c.alias}`)
      if (c.kind === 'timestamp') return sql`${source}::text as ${sql.ref(c.alias)}`
      // Instants are shown as UTC wall-clock time (the README says so).
      if (c.kind === 'timestamptz') return sql`(${source} at time zone 'UTC')::text as ${sql.ref(c.alias)}`
      if (c.kind === 'uuid') return sql`${source}::text as ${sql.ref(c.alias)}`
      return sql`${source} as ${sql.ref(c.alias)}`
    }),
  )
}

async function writeTableSheet(
  trx: Transaction<Database>,
  workbook: ExcelJS.stream.xlsx.WorkbookWriter,
  table: ExportableTable,
  columns: SheetColumn[],
  filter: ExportFilter,
  onRows: (written: number) => void,
): Promise<number> {
  const cursor = sql.ref(`aedb_export_${table}`)
  const query = tableQuery(table, filter)
  await sql`declare ${cursor} no scroll cursor for select ${selectList(table, columns)} ${query.from} order by ${query.order}`.execute(
    trx,
  )
  const lastColumn = columnLetter(columns.length)
  const ws = workbook.addWorksheet(table, {views: [{state: 'frozen', ySplit: 1}]})
  ws.autoFilter = `A1:${lastColumn}1`
  let written = 0
  let first = true
  for (;;) {
    const {rows} = await sql<
      Record<string, unknown>
    >`fetch ${sql.raw(String(BATCH_ROWS))} from ${cursor}`.execute(trx)
    const values = rows.map((row) => columns.map((c) => toExportValue(row[c.alias], c)))
    if (first) {
      // Widths must be known before the first row is committed: they fit the header and the first batch.
      ws.columns = columns.map((c, i) => ({width: fitWidth(c.header, values, i)}))
      const header = ws.getRow(1)
      for (const [i, c] of columns.entries()) {
        const cell = header.getCell(i + 1)
        writeCell(cell, {kind: 'text', value: c.header})
        cell.font = {bold: true}
      }
      header.commit()
      first = false
    }
    for (const rowValues of values) {
      const row = ws.getRow(written + 2)
      for (const [i, v] of rowValues.entries()) writeCell(row.getCell(i + 1), v)
      row.commit()
      written++
    }
    onRows(written)
    if (rows.length < BATCH_ROWS) break
  }
  await sql`close ${cursor}`.execute(trx)
  for (const [i, c] of columns.entries()) {
    if (!c.allowed || written === 0) continue
    const letter = columnLetter(i + 1)
    ;(
      ws as unknown as {dataValidations: {add(range: string, v: ExcelJS.DataValidation): void}}
    ).dataValidations.add(`${letter}2:${letter}${written + 1}`, {
      type: 'list',
      allowBlank: true,
      formulae: [`"${c.allowed.join(',')}"`],
    })
  }
  ws.commit()
  return written
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

function fitWidth(header: string, rows: ExportValue[][], index: number): number {
  let width = header.length
  for (const row of rows) {
    const v = row[index]!
    const length =
      v.kind === 'text'
        ? v.value.length
        : v.kind === 'date'
          ? 19
          : v.kind === 'number'
            ? String(v.value).length
            : 5
    if (length > width) width = length
    if (width >= MAX_WIDTH) return MAX_WIDTH
  }
  return Math.max(MIN_WIDTH, width + 2)
}

export function columnLetter(n: number): string {
  let out = ''
  for (let k = n; k > 0; k = Math.floor((k - 1) / 26)) out = String.fromCharCode(65 + ((k - 1) % 26)) + out
  return out
}
