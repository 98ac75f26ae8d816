import {type Kysely, type RawBuilder, sql, type Transaction} from 'kysely'
import type {CopyOut} from '../db/connection.js'
import {type Database, SCHEMA} from '../db/schema.js'
import {AEDB_MARKER_SHEET, aedbMarker} from '../importers/excel/is-aedb-written-workbook.js'
import {CopyRowXml} from './copy-row-xml.js'
import {copyTableLines, type LogRowCount, logRowCounts} from './copy-table-lines.js'
import type {ExportValue} from './excel-cell.js'
import type {ExportFilter, ExportProgress, SheetCounts} from './export-types.js'
import {
  COPY_NULL,
  cellBody,
  copyFieldValue,
  copyLineTexts,
  type SheetColumn,
  toExportValue,
} from './table-cells.js'
import {
  EXPORTABLE_TABLES,
  type ExportableTable,
  JOINED_COLUMNS,
  MEDIA_TABLES,
  tableQuery,
} from './table-queries.js'
import {README_SHEET, readmeSheetXml} from './write-readme.js'
import {
  columnLetter,
  rowXml,
  type SheetTailProps,
  sheetHead,
  sheetTail,
  textCellXml,
} from './xlsx/sheet-xml.js'
import {type SheetOutput, STYLE, XlsxStreamWriter} from './xlsx/xlsx-stream-writer.js'

export interface WriteTablesWorkbookProps {
  db: Kysely<Database>
  file: string
  filter: ExportFilter
  /** Only these tables; default every exportable table with rows for the filter. */
  tables?: readonly string[]
  source: {database: string; aedbVersion: string}
  dryRun?: boolean
  onProgress?: (progress: ExportProgress) => void
  /** On PostgreSQL: read rows with `COPY ... TO STDOUT` instead of a cursor (same cells, far less parsing). */
  copyOut?: CopyOut
}

export interface WriteTablesWorkbookResult {
  sheets: SheetCounts
  rows: number
}

export type {SheetColumn} from './table-cells.js'

const BATCH_ROWS = 2000
const MAX_WIDTH = 60
const MIN_WIDTH = 8
/** Keys of `extra` go into the select list as `x0`, `x1`, …: legacy headers are not valid aliases. */
const EXTRA_PREFIX = 'x'

interface SheetPlan {
  table: ExportableTable
  rows: number
  columns: SheetColumn[]
  /** A table of log rows: its logs with rows for the filter, in log order, with their row counts. */
  logs?: LogRowCount[]
}

/**
 * The tables layout: a README sheet first, then one sheet per table with rows for the filter, then the very
 * hidden `_aedb` marker. Each table is read with a cursor in batches of 2,000 rows, turned into sheet XML and
 * streamed through the zip to the file, so memory stays flat however many rows there are.
 */
export async function writeTablesWorkbook(
  props: WriteTablesWorkbookProps,
): Promise<WriteTablesWorkbookResult> {
  const tables = chooseTables(props.tables, props.filter)
  const plans = await planSheets(props.db, tables, props.filter, !!props.copyOut && !props.dryRun)
  if (props.dryRun) return countPlanned(plans)
  const xlsx = new XlsxStreamWriter(props.file)
  try {
    const readme = xlsx.declareSheet({name: README_SHEET})
    const sheets = plans.map((p) =>
      xlsx.declareSheet({name: p.table, autoFilter: `A1:${columnLetter(p.columns.length)}1`}),
    )
    const marker = xlsx.declareSheet({name: AEDB_MARKER_SHEET, state: 'veryHidden'})
    const result = await writeTableSheets(props, xlsx, plans, sheets)
    const sheetsForReadme = plans.map((p) => ({...p, rows: result.sheets[p.table] ?? 0}))
    await xlsx.writeSheet(readme, (out) =>
      out.write(readmeSheetXml({source: props.source, filter: props.filter, sheets: sheetsForReadme})),
    )
    // Marks the workbook as aedb's own table export, so backfill-excel never takes it for a processing log.
    await xlsx.writeSheet(marker, (out) => out.write(markerSheetXml()))
    await xlsx.finish()
    return result
  } catch (error) {
    await xlsx.abort()
    throw error
  }
}

/**
 * The tables with rows for the filter, their row counts and columns, every table's statements at once (the pool
 * runs them side by side). With `logCounts`, a table of log rows is counted by log (`logRowCounts`), which its
 * `COPY` groups need anyway, instead of by a `count(*)` of its own.
 */
async function planSheets(
  db: Kysely<Database>,
  tables: ExportableTable[],
  filter: ExportFilter,
  logCounts: boolean,
): Promise<SheetPlan[]> {
  const enums = readEnumerations(db)
  // Each table's own statements wait for the enumerations; a failure of one is reported once, by Promise.all.
  enums.catch(() => {})
  const plans = await Promise.all(
    tables.map(async (table): Promise<SheetPlan> => {
      const query = tableQuery(table, filter)
      const logs = logCounts && query.withinLog ? logRowCounts(db, query) : undefined
      const [rows, columns, counted] = await Promise.all([
        logs ? logs.then((list) => list.reduce((n, log) => n + log.n, 0)) : countRows(db, table, filter),
        enums.then((allowed) => sheetColumns(db, table, filter, allowed)),
        logs,
      ])
      return {table, rows, columns, ...(counted ? {logs: counted} : {})}
    }),
  )
  await enums
  return plans.filter((plan) => plan.rows > 0)
}

function countPlanned(plans: SheetPlan[]): WriteTablesWorkbookResult {
  const result: WriteTablesWorkbookResult = {sheets: {}, rows: 0}
  for (const plan of plans) result.sheets[plan.table] = plan.rows
  result.rows = plans.reduce((n, p) => n + p.rows, 0)
  return result
}

/** Writes one table's sheet from its plan, calling `onRows` with the rows written so far; returns them all. */
type SheetWriter = (out: SheetOutput, plan: SheetPlan, onRows: (written: number) => void) => Promise<number>

/**
 * Every table sheet, with progress over all rows: on PostgreSQL each table is one `COPY ... TO STDOUT`, otherwise
 * cursors in one transaction.
 */
async function writeTableSheets(
  props: WriteTablesWorkbookProps,
  xlsx: XlsxStreamWriter,
  plans: SheetPlan[],
  sheets: number[],
): Promise<WriteTablesWorkbookResult> {
  const total = plans.reduce((n, p) => n + p.rows, 0)
  const result: WriteTablesWorkbookResult = {sheets: {}, rows: 0}
  const writeAll = async (writeSheet: SheetWriter) => {
    for (const [i, plan] of plans.entries()) {
      await xlsx.writeSheet(sheets[i]!, async (out) => {
        const written = await writeSheet(out, plan, (n) =>
          props.onProgress?.({done: result.rows + n, total, rows: result.rows + n, current: plan.table}),
        )
        result.sheets[plan.table] = written
        result.rows += written
      })
    }
  }
  const {copyOut} = props
  if (copyOut)
    await writeAll((out, plan, onRows) => copyTableSheet(props.db, copyOut, out, plan, props.filter, onRows))
  else
    await props.db
      .transaction()
      .execute((trx) =>
        writeAll((out, plan, onRows) => writeTableSheet(trx, out, plan, props.filter, onRows)),
      )
  return result
}

function markerSheetXml(): string {
  return `${sheetHead({widths: []})}<row r="1">${textCellXml('A1', aedbMarker('tables'))}</row>${sheetTail()}`
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

/**
 * One table's sheet: bold frozen header, widths fitted to the header and the first batch (the `<cols>` element
 * comes before the rows in the XML), rows as they come from the cursor, then the autofilter and list validations.
 */
async function writeTableSheet(
  trx: Transaction<Database>,
  out: SheetOutput,
  plan: SheetPlan,
  filter: ExportFilter,
  onRows: (written: number) => void,
): Promise<number> {
  const {table, columns} = plan
  const cursor = sql.ref(`aedb_export_${table}`)
  const query = tableQuery(table, filter)
  await sql`declare ${cursor} no scroll cursor for select ${selectList(table, columns)} ${query.from} order by ${query.order}`.execute(
    trx,
  )
  const fetchBatch = () =>
    sql<Record<string, unknown>>`fetch ${sql.raw(String(BATCH_ROWS))} from ${cursor}`.execute(trx)
  const letters = columns.map((_, i) => columnLetter(i + 1))
  let written = 0
  let batch = await fetchBatch()
  await out.write(
    sheetHead({widths: fitWidths(columns, batch.rows), frozenHeader: true}) + headerRowXml(columns),
  )
  for (;;) {
    const last = batch.rows.length < BATCH_ROWS
    // The next batch is fetched while this one becomes XML.
    const next = last ? null : fetchBatch()
    await pushRows(out, batch.rows, columns, letters, written + 2)
    written += batch.rows.length
    onRows(written)
    if (!next) break
    batch = await next
  }
  await sql`close ${cursor}`.execute(trx)
  await out.write(sheetTail(tailOf(columns, letters, written)))
  return written
}

/**
 * One table's sheet from `COPY (select ...) TO STDOUT`: the same select list, order and cells as the cursor path,
 * with the widths fitted to the first 2,000 rows, but no row objects: each line's fields go
 * straight from the COPY bytes into the sheet's XML bytes (`CopyRowXml`).
 */
async function copyTableSheet(
  db: Kysely<Database>,
  copyOut: CopyOut,
  out: SheetOutput,
  plan: SheetPlan,
  filter: ExportFilter,
  onRows: (written: number) => void,
): Promise<number> {
  const {table, columns} = plan
  const chunks = copyTableLines({
    db,
    copyOut,
    query: tableQuery(table, filter),
    select: selectList(table, columns),
    ...(plan.logs ? {logs: plan.logs} : {}),
  })
  const rowsXml = new CopyRowXml(columns, out, table)
  let written = 0
  const writeChunks = async (lines: Buffer[]) => {
    for (const chunk of lines) {
      written += rowsXml.rows(chunk, written + 2)
      await out.drain()
    }
    onRows(written)
  }
  const writeHead = (first: Buffer[]) =>
    out.write(
      // Exactly the first BATCH_ROWS rows, as the cursor path: widths never depend on how the data was chunked.
      sheetHead({
        widths: copyWidths(columns, first.flatMap(copyLineTexts).slice(0, BATCH_ROWS)),
        frozenHeader: true,
      }) + headerRowXml(columns),
    )
  let first: Buffer[] | null = []
  let firstLines = 0
  for await (const chunk of chunks) {
    if (first === null) await writeChunks([chunk])
    else {
      first.push(chunk)
      firstLines += countLines(chunk)
      if (firstLines < BATCH_ROWS) continue
      await writeHead(first)
      await writeChunks(first)
      first = null
    }
  }
  if (first !== null) {
    await writeHead(first)
    await writeChunks(first)
  }
  rowsXml.flush()
  await out.write(sheetTail(tailOf(columns, letters(columns), written)))
  return written
}

function countLines(chunk: Buffer): number {
  let n = 0
  for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) n++
  return n
}

function letters(columns: SheetColumn[]): string[] {
  return columns.map((_, i) => columnLetter(i + 1))
}

function copyWidths(columns: SheetColumn[], lines: string[]): number[] {
  const rows = lines.map((line) => {
    const fields = line.split('\t')
    return Object.fromEntries(columns.map((c, i) => [c.alias, copyFieldValue(fields[i] ?? COPY_NULL, c)]))
  })
  return fitWidths(columns, rows)
}

function headerRowXml(columns: SheetColumn[]): string {
  const cells = columns.map((c, i) => textCellXml(`${columnLetter(i + 1)}1`, c.header, STYLE.bold))
  return `<row r="1">${cells.join('')}</row>`
}

/** Rows from the cursor into the sheet, one at a time; the batch's first row is sheet row `firstRow`. */
async function pushRows(
  out: SheetOutput,
  rows: Record<string, unknown>[],
  columns: SheetColumn[],
  letters: string[],
  firstRow: number,
): Promise<void> {
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!
    if (out.push(rowXml(firstRow + r, letters, (i) => cellBody(row[columns[i]!.alias], columns[i]!))))
      await out.drain()
  }
}

function tailOf(columns: SheetColumn[], letters: string[], written: number): SheetTailProps {
  const listValidations = columns.flatMap((c, i) =>
    c.allowed && written > 0
      ? [{range: `${letters[i]}2:${letters[i]}${written + 1}`, allowed: c.allowed}]
      : [],
  )
  return {autoFilter: `A1:${letters[letters.length - 1]}1`, listValidations}
}

/** Widths that fit the header and the first batch of rows, at least 8 and at most 60 characters. */
function fitWidths(columns: SheetColumn[], rows: Record<string, unknown>[]): number[] {
  return columns.map((column) => {
    let width = column.header.length
    for (const row of rows) {
      const value = row[column.alias]
      if (value === null || value === undefined) continue
      const length = displayLength(toExportValue(value, column))
      if (length > width) width = length
      if (width >= MAX_WIDTH) return MAX_WIDTH
    }
    return Math.max(MIN_WIDTH, width + 2)
  })
}

function displayLength(v: ExportValue): number {
  if (v.kind === 'text') return v.value.length
  if (v.kind === 'date') return 19
  if (v.kind === 'number') return String(v.value).length
  return 5
}
