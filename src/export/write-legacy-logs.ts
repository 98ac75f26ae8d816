import path from 'node:path'
import {type Kysely, sql} from 'kysely'
import type {Database, TableName} from '../db/schema.js'
import {pythonIntervalsRepr} from '../importers/excel/cell-value.js'
import {type FieldMap, PLACEHOLDER_HEADER} from '../importers/excel/field-maps.js'
import {makeFolder} from '../make-folder.js'
import {EMPTY, type ExportValue, isNaiveTimestamp, writeCell} from './excel-cell.js'
import type {ExportFilter, ExportProgress, SheetCounts} from './export-types.js'
import {LEGACY_HEADERS, type LegacyVersion} from './legacy-headers.js'
import {columnsByHeader, type SheetSource, sheetSources} from './legacy-sheet-sources.js'
import {selectColumns} from './select-columns.js'

type Row = Record<string, unknown> & {id: string; extra: Record<string, unknown>}

export interface WriteLegacyLogsProps {
  db: Kysely<Database>
  /** The folder to write into (it exists and is empty). */
  dir: string
  version: LegacyVersion
  filter: ExportFilter
  dryRun?: boolean
  onProgress?: (progress: ExportProgress) => void
}

export interface WriteLegacyLogsResult {
  files: string[]
  sheets: SheetCounts
  rows: number
}

interface LogEntry {
  kind: 'maneuver' | 'knee'
  row: Row
  study: string
  participantNumber: number
}

const KNEE_NAME = {left: 'Left', right: 'Right'} as const
const MANEUVER_FILE = {walk: 'walk', sts: 'sit_to_stand', fe: 'flexion_extension'} as const
const MANEUVER_FOLDER = {walk: 'Walking', sts: 'Sit-Stand', fe: 'Flexion-Extension'} as const
/** What the legacy pipeline wrote in a stage's sheet when it had no record of that stage. */
const PLACEHOLDER_TEXT: Record<string, string> = {
  Audio: 'No audio processing recorded',
  Biomechanics: 'No biomechanics import recorded',
  Synchronization: 'No synchronization recorded',
  'Movement Cycles': 'No movement cycles recorded',
  'Maneuver Summaries': 'No maneuvers processed',
}
/** v1-v3 left Cycle Details out entirely when there were no cycles. */
const OMITTED_WHEN_EMPTY = new Set(['Cycle Details'])
const LOG_BATCH = 200

/**
 * The knee study's processing logs in a legacy layout: `<study>/#<id>/<Knee> Knee/<Maneuver>/processing_log_….xlsx`
 * and `knee_processing_log_….xlsx`, each study folder being a legacy study data root. Every cell comes from the
 * row's typed column (through the importer's field maps, inverted) or, where the importer kept the original
 * verbatim in `extra`, from there, in the sheet, row and column it was read from.
 */
export async function writeLegacyLogs(props: WriteLegacyLogsProps): Promise<WriteLegacyLogsResult> {
  const result: WriteLegacyLogsResult = {files: [], sheets: {}, rows: 0}
  const total = await countLogs(props.db, props.filter)
  let done = 0
  for await (const log of readLogs(props.db, props.filter)) {
    const relPath = legacyPath(log)
    const sheets = await buildSheets(props.db, log, props.version)
    if (!props.dryRun) await writeWorkbook(path.join(props.dir, relPath), sheets)
    result.files.push(relPath)
    for (const sheet of sheets) {
      if (sheet.placeholder) continue
      result.sheets[sheet.name] = (result.sheets[sheet.name] ?? 0) + sheet.rows.length
      result.rows += sheet.rows.length
    }
    props.onProgress?.({done: ++done, total, rows: result.rows, current: relPath})
  }
  return result
}

async function countLogs(db: Kysely<Database>, filter: ExportFilter): Promise<number> {
  let n = 0
  for (const table of ['processing_logs', 'knee_logs'] as const) {
    const {rows} = await sql<{n: number}>`select count(*)::int as n from ${sql.table(table)} l
      join participants p on p.id = l.participant_id join studies s on s.id = p.study_id
      where ${participantFilter(filter)}`.execute(db)
    n += rows[0]!.n
  }
  return n
}

/** The SQL condition on `s` (studies) and `p` (participants) for the export filter. */
export function participantFilter(filter: ExportFilter) {
  return sql.join(
    [
      sql`true`,
      ...(filter.studies.length > 0 ? [sql`s.name in (${sql.join(filter.studies)})`] : []),
      ...(filter.participants.length > 0
        ? [sql`p.participant_number in (${sql.join(filter.participants)})`]
        : []),
    ],
    sql` and `,
  )
}

/** Logs in batches (keyset on id), knee logs after maneuver logs. */
async function* readLogs(db: Kysely<Database>, filter: ExportFilter): AsyncGenerator<LogEntry> {
  for (const [table, kind] of [
    ['processing_logs', 'maneuver'],
    ['knee_logs', 'knee'],
  ] as const) {
    let after = '00000000-0000-0000-0000-000000000000'
    for (;;) {
      const {rows} = await sql<Row & {study_name_: string; participant_number_: number}>`
        select ${selectColumns(table, 'l')}, s.name as study_name_, p.participant_number as participant_number_
        from ${sql.table(table)} l
        join participants p on p.id = l.participant_id join studies s on s.id = p.study_id
        where ${participantFilter(filter)} and l.id > ${after}::uuid
        order by l.id limit ${LOG_BATCH}`.execute(db)
      for (const {study_name_, participant_number_, ...log} of rows) {
        yield {kind, row: log as Row, study: study_name_, participantNumber: participant_number_}
      }
      if (rows.length < LOG_BATCH) break
      after = rows[rows.length - 1]!.id
    }
  }
}

/** `<study>/#1019/Left Knee/Walking/processing_log_1019_Left_walk.xlsx` (the legacy names, spec §1). */
export function legacyPath(log: LogEntry): string {
  const legacyId = log.row.legacy_study_id
  const id =
    typeof legacyId === 'string' && /^[A-Za-z]*\d+$/.test(legacyId) ? legacyId : String(log.participantNumber)
  const knee = KNEE_NAME[log.row.knee as 'left' | 'right']
  const kneeDir = path.posix.join(log.study, `#${id}`, `${knee} Knee`)
  if (log.kind === 'knee') return path.posix.join(kneeDir, `knee_processing_log_${id}_${knee}.xlsx`)
  const maneuver = log.row.maneuver as 'walk' | 'sts' | 'fe'
  return path.posix.join(
    kneeDir,
    MANEUVER_FOLDER[maneuver],
    `processing_log_${id}_${knee}_${MANEUVER_FILE[maneuver]}.xlsx`,
  )
}

interface SheetData {
  name: string
  headers: string[]
  /** [row number, values by column] */
  rows: Array<[number, ExportValue[]]>
  placeholder?: boolean
}

async function buildSheets(
  db: Kysely<Database>,
  log: LogEntry,
  version: LegacyVersion,
): Promise<SheetData[]> {
  const sheets: SheetData[] = []
  const sameLayout = log.row.format_version === version
  for (const [name, layoutHeaders] of LEGACY_HEADERS[version][log.kind]) {
    const sources = sheetSources(log.kind, version, name)
    const groups = await readSheetRecords(db, log, sources)
    if (groups.length === 0) {
      const note = log.row.extra[`${name} > ${PLACEHOLDER_HEADER}`]
      if (typeof note !== 'string' && OMITTED_WHEN_EMPTY.has(name)) continue
      sheets.push({
        name,
        headers: [PLACEHOLDER_HEADER],
        rows: [
          [2, [{kind: 'text', value: typeof note === 'string' ? note : (PLACEHOLDER_TEXT[name] ?? '')}]],
        ],
        placeholder: true,
      })
      continue
    }
    const headers = [...layoutHeaders]
    if (sameLayout) headers.push(...unknownHeaders(groups, name, headers, sources))
    const resolvers = sources.map((s) => columnsByHeader(s.fields, version, headers))
    const rows: SheetData['rows'] = []
    let next = 2
    for (const group of groups) {
      const primary = group[0]!
      const wanted = primary.source_sheet === name ? (primary.source_row as number | null) : null
      const rowNumber = wanted !== null && wanted >= next ? wanted : next
      next = rowNumber + 1
      rows.push([rowNumber, headers.map((h) => cellValue(h, group, resolvers))])
    }
    sheets.push({name, headers, rows})
  }
  sheets.push(...unknownSheets(log.row.extra))
  return sheets
}

/**
 * The rows of one sheet: one group per row of the first source, with the rows of the other sources that were
 * read from the same legacy row (a v4 Synchronization row is a synchronization and its cycle summary).
 */
async function readSheetRecords(
  db: Kysely<Database>,
  log: LogEntry,
  sources: SheetSource[],
): Promise<Row[][]> {
  if (sources.length === 0) return []
  const [first, ...rest] = sources
  if (first!.isLog) return [[log.row]]
  const parent = log.kind === 'knee' ? 'knee_log_id' : 'processing_log_id'
  const load = (table: TableName) =>
    sql<Row>`select ${selectColumns(table, 't')} from ${sql.table(table)} t where ${sql.ref(`t.${parent}`)} = ${log.row.id}::uuid
      order by t.source_row nulls last, t.id`
      .execute(db)
      .then((r) => r.rows)
  const primary = await load(first!.table)
  const groups = primary.map((r) => [r])
  for (const source of rest) {
    const byParent = new Map(groups.map((g) => [g[0]!.id, g]))
    for (const r of await load(source.table)) byParent.get(r.synchronization_id as string)?.push(r)
  }
  return groups
}

/** Keys of `extra` that were columns of this sheet but are not in the layout (unknown columns), sorted. */
function unknownHeaders(groups: Row[][], sheet: string, known: string[], sources: SheetSource[]): string[] {
  const seen = new Set(known)
  const out: string[] = []
  for (const group of groups) {
    for (const record of group) {
      if (record.source_sheet !== sheet) continue
      for (const key of Object.keys(record.extra)) {
        if (seen.has(key) || (sources[0]?.isLog && isLogLevelKey(key))) continue
        seen.add(key)
        out.push(key)
      }
    }
  }
  return out.sort()
}

/** Keys the importer put in a log's extra that are not columns: placeholder notes, unknown sheets, v5 metrics. */
function isLogLevelKey(key: string): boolean {
  return / > (Note|row \d+)( > column \d+)?$/.test(key) || key.startsWith('Metric: ')
}

function cellValue(header: string, group: Row[], resolvers: Array<Map<string, FieldMap>>): ExportValue {
  for (const [i, record] of group.entries()) {
    const field = resolvers[i]?.get(header)
    if (header in record.extra) return fromVerbatim(record.extra[header], field)
    if (field && field.column in record) return fromTyped(record[field.column], field)
  }
  return EMPTY
}

/** A value kept verbatim: the cell as it was. Date cells were kept as their naive text, so such text is a date again. */
function fromVerbatim(value: unknown, field: FieldMap | undefined): ExportValue {
  if (value === null || value === undefined) return EMPTY
  if (typeof value === 'number') return {kind: 'number', value}
  if (typeof value === 'boolean') return {kind: 'bool', value}
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  // A typed date column keeps a verbatim copy only when the cell was text, not a date.
  if (field?.type !== 'timestamp' && isNaiveTimestamp(text)) return {kind: 'date', value: text}
  return {kind: 'text', value: text}
}

function fromTyped(value: unknown, field: FieldMap): ExportValue {
  if (value === null || value === undefined) return EMPTY
  switch (field.type) {
    case 'int':
    case 'count':
    case 'float':
      return {kind: 'number', value: Number(value)}
    case 'bool':
      return {kind: 'bool', value: Boolean(value)}
    case 'timestamp':
      return {kind: 'date', value: String(value)}
    case 'intervals':
      return {kind: 'text', value: pythonIntervalsRepr(value as number[])}
    default:
      return {kind: 'text', value: String(value)}
  }
}

/** Sheets outside the layout that the importer kept in the log's extra as `<sheet> > row N`. */
function unknownSheets(extra: Record<string, unknown>): SheetData[] {
  const bySheet = new Map<string, Map<number, Record<string, unknown>>>()
  for (const [key, value] of Object.entries(extra)) {
    const match = /^(.*) > row (\d+)$/.exec(key)
    if (!match || value === null || typeof value !== 'object') continue
    const rows = bySheet.get(match[1]!) ?? new Map()
    rows.set(Number(match[2]), value as Record<string, unknown>)
    bySheet.set(match[1]!, rows)
  }
  const out: SheetData[] = []
  for (const [name, rows] of bySheet) {
    const headerRow = rows.get(1) ?? {}
    const headers = Object.keys(headerRow)
    for (const r of rows.values()) for (const k of Object.keys(r)) if (!headers.includes(k)) headers.push(k)
    const data: SheetData['rows'] = [...rows.entries()]
      .filter(([n]) => n > 1)
      .sort(([a], [b]) => a - b)
      .map(([n, r]) => [n, headers.map((h) => fromVerbatim(r[h], undefined))])
    out.push({name, headers, rows: data, placeholder: true})
  }
  return out
}

async function writeWorkbook(file: string, sheets: SheetData[]): Promise<void> {
  await makeFolder(path.dirname(file))
  // Loaded for the legacy layout only: the tables layout has its own writer.
  const {default: exceljs} = await import('exceljs')
  const workbook = new exceljs.stream.xlsx.WorkbookWriter({
    filename: file,
    useStyles: true,
    useSharedStrings: false,
  })
  for (const sheet of sheets) {
    const ws = workbook.addWorksheet(sheet.name)
    const header = ws.getRow(1)
    sheet.headers.forEach((h, i) => {
      const cell = header.getCell(i + 1)
      writeCell(cell, {kind: 'text', value: h})
      cell.font = {bold: true}
    })
    header.commit()
    for (const [rowNumber, values] of sheet.rows) {
      const row = ws.getRow(rowNumber)
      for (const [i, v] of values.entries()) writeCell(row.getCell(i + 1), v)
      row.commit()
    }
    ws.commit()
  }
  await workbook.commit()
}
