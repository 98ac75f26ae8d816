import {sql} from 'kysely'
import {deterministicId} from '../../db/deterministic-id.js'
import {rowContentHash} from '../../db/row-content-hash.js'
import type {ImportedTable} from '../../db/schema.js'
import {deletedCounts, deleteStaleRows, type UpsertCounts, upsertRows} from '../../db/upsert-rows.js'
import {type FileRecord, upsertFiles} from '../../files/file-catalog.js'
import type {ImportWarning, UnitContext} from '../import-session.js'
import {naiveToMicros} from './cell-value.js'
import type {ParsedKneeLog, ParsedLog, ParsedManeuverLog, ParsedRecord, StudyName} from './parse-log.js'

/** Bump whenever parsing or mapping changes what a workbook turns into: workbooks are then re-read. */
export const EXCEL_PARSER_VERSION = 'excel-3'

/**
 * The database already holds a newer edition of this log (STALE_LOG), or the same edition in a later layout than
 * this workbook's, which cannot hold all of its columns (OLDER_LAYOUT): replacing it would lose data.
 */
export class StaleLogError extends Error {
  constructor(
    message: string,
    readonly code: 'STALE_LOG' | 'OLDER_LAYOUT' = 'STALE_LOG',
  ) {
    super(message)
  }
}

export interface WriteLogProps {
  ctx: UnitContext
  parsed: ParsedLog
  study: StudyName
  participantNumber: number
  root: string
  workbook: FileRecord
  references: FileRecord[]
  /** Compare every written column of the log's rows, so that a row edited outside aedb is written back (--force). */
  restoreEdited?: boolean
}

export interface WriteLogResult {
  /** True when any row of the study's own tables was inserted, updated or deleted. */
  changed: boolean
  participantId: string
}

export interface ChildSpec {
  table: ImportedTable
  parentColumn: string
  records: ParsedRecord[]
  /** The natural key within the parent: the UNIQUE constraint is (parentColumn, ...keyColumns). */
  keyColumns: string[]
  link?: (r: ParsedRecord) => Record<string, unknown>
}

type Row = Record<string, unknown> & {id: string}

/** One child table of a log with the rows this workbook gives it. */
export interface ChildRows {
  spec: ChildSpec
  rows: Row[]
}

/** Every row of a log's own tables that one parsed workbook turns into, once its participant's id is known. */
export interface LogRows {
  logTable: 'processing_logs' | 'knee_logs'
  logConflict: string[]
  log: Row
  children: ChildRows[]
}

/** The study and participant rows of a workbook (the participant's id as computed, before move-participant). */
export function studyAndParticipantRows(study: StudyName, participantNumber: number, runId: string) {
  const studyId = deterministicId('study', study)
  return {
    study: {id: studyId, name: study, run_id: runId},
    participant: {
      id: deterministicId('participant', study, participantNumber),
      study_id: studyId,
      participant_number: participantNumber,
      run_id: runId,
    },
  }
}

/** The source_imports row that marks a workbook's bytes as imported by this parser version. */
export function sourceImportRow(workbook: FileRecord, runId: string): Row {
  return {
    id: deterministicId('source_import', workbook.id, 'excel', EXCEL_PARSER_VERSION, workbook.sha256),
    file_id: workbook.id,
    importer: 'excel',
    parser_version: EXCEL_PARSER_VERSION,
    sha256: workbook.sha256!,
    run_id: runId,
  }
}

/** The rows of a log and its children, with provenance and content hashes (after judgeStoredLog settled its layout). */
export function buildLogRows(
  parsed: ParsedLog,
  participantId: string,
  workbookId: string,
  runId: string,
): LogRows {
  const row = (
    table: ImportedTable,
    id: string,
    parent: Record<string, unknown>,
    r: ParsedRecord,
    link: Record<string, unknown> = {},
  ): Row => {
    // One object, built once (a row is spread into no other): hashed with `extra` as the object, then written
    // with it as JSON text. Keys in the order id, content, provenance, extra, content_hash, run_id.
    const out: Row = {
      id,
      ...parent,
      ...r.values,
      ...link,
      source_file_id: workbookId,
      source_sheet: r.sheet,
      source_row: r.row,
      source_path: null,
      extra: r.extra,
    }
    // The same function verify uses on the values it reads back (ROW_EDITED).
    out.content_hash = rowContentHash(table, out)
    out.extra = JSON.stringify(r.extra)
    out.run_id = runId
    return out
  }
  const logId = logIdOf(parsed, participantId)
  const owner = {participant_id: participantId, format_version: parsed.version}
  const logTable = parsed.kind === 'maneuver' ? 'processing_logs' : 'knee_logs'
  const values =
    parsed.kind === 'maneuver'
      ? {...parsed.log.values, knee: parsed.knee, maneuver: parsed.maneuver}
      : {...parsed.log.values, knee: parsed.knee}
  const specs = parsed.kind === 'maneuver' ? maneuverChildren(parsed, logId) : kneeChildren(parsed)
  return {
    logTable,
    logConflict:
      parsed.kind === 'maneuver' ? ['participant_id', 'knee', 'maneuver'] : ['participant_id', 'knee'],
    log: row(logTable, logId, owner, {...parsed.log, values}),
    children: specs.map((spec) => ({
      spec,
      rows: spec.records.map((r) =>
        row(
          spec.table,
          deterministicId(spec.table, logId, ...spec.keyColumns.map((c) => v(r, c))),
          {[spec.parentColumn]: logId},
          r,
          spec.link?.(r),
        ),
      ),
    })),
  }
}

/** The warning of a log whose workbook no longer has some of the rows stored for it. */
export function rowsRemovedWarning(file: string, table: string, removed: number): ImportWarning {
  return {
    file,
    code: 'ROWS_REMOVED',
    message: `${removed} ${table} row(s) of this log are no longer in the workbook and were deleted (see audit_log)`,
  }
}

/** Writes one workbook's rows, statement by statement (the path of a single workbook, and of a failed batch's retry). */
export async function writeLog(props: WriteLogProps): Promise<WriteLogResult> {
  const {ctx, parsed} = props
  const db = ctx.trx
  let changed = false
  const track = (table: string, counts: UpsertCounts) => {
    ctx.count(table, counts)
    if (table !== 'files' && table !== 'source_imports' && (counts.inserted > 0 || counts.updated > 0))
      changed = true
  }
  track('files', await upsertFiles(db, props.root, [props.workbook, ...props.references], ctx.runId))
  const owner = studyAndParticipantRows(props.study, props.participantNumber, ctx.runId)
  track('studies', await upsertRows({db, table: 'studies', rows: [owner.study], conflict: ['name']}))
  track(
    'participants',
    await upsertRows({
      db,
      table: 'participants',
      rows: [owner.participant],
      conflict: ['study_id', 'participant_number'],
    }),
  )
  // The stored id, not the computed one: `aedb move-participant` keeps a participant's id when its study changes.
  const participantId = (
    await db
      .selectFrom('participants')
      .select('id')
      .where('study_id', '=', owner.study.id)
      .where('participant_number', '=', props.participantNumber)
      .executeTakeFirstOrThrow()
  ).id
  judgeStoredLog(
    parsed,
    await storedLogs(db, [parsed], [participantId]),
    participantId,
    props.participantNumber,
  )
  const rows = buildLogRows(parsed, participantId, props.workbook.id, ctx.runId)
  const compare = (row: Record<string, unknown> | undefined, conflict: readonly string[]) =>
    props.restoreEdited && row ? {compare: everyWrittenColumn(row, conflict)} : {}
  track(
    rows.logTable,
    await upsertRows({
      db,
      table: rows.logTable,
      rows: [rows.log],
      conflict: rows.logConflict,
      ...compare(rows.log, rows.logConflict),
    }),
  )
  for (const {spec, rows: childRows} of rows.children) {
    const conflict = [spec.parentColumn, ...spec.keyColumns]
    track(
      spec.table,
      await upsertRows({
        db,
        table: spec.table,
        rows: childRows,
        conflict,
        ...compare(childRows[0], conflict),
      }),
    )
    const removed = await deleteStaleRows({
      db,
      table: spec.table,
      scope: {column: spec.parentColumn, value: rows.log.id},
      keepIds: childRows.map((r) => r.id),
    })
    track(spec.table, deletedCounts(removed))
    if (removed > 0) {
      changed = true
      ctx.warn(rowsRemovedWarning(parsed.file, spec.table, removed))
    }
  }
  const sourceImport = sourceImportRow(props.workbook, ctx.runId)
  track(
    'source_imports',
    await upsertRows({
      db,
      table: 'source_imports',
      rows: [sourceImport],
      conflict: ['file_id', 'importer', 'parser_version', 'sha256'],
    }),
  )
  return {changed, participantId}
}

/**
 * The columns an upsert compares to restore a row edited outside aedb: every column written but the key and run_id.
 * The stored content_hash is left as it was by such an edit, so comparing it alone would keep the edit.
 */
export function everyWrittenColumn(row: Record<string, unknown>, conflict: readonly string[]): string[] {
  return Object.keys(row).filter((c) => c !== 'id' && c !== 'run_id' && !conflict.includes(c))
}

export function logIdOf(parsed: ParsedLog, participantId: string): string {
  return parsed.kind === 'maneuver'
    ? deterministicId('processing_log', participantId, parsed.knee, parsed.maneuver)
    : deterministicId('knee_log', participantId, parsed.knee)
}

/** The stored edition (log_updated, layout) of these logs, by log id. */
export async function storedLogs(
  db: UnitContext['trx'],
  logs: readonly ParsedLog[],
  participantIds: readonly string[],
): Promise<Map<string, StoredLog>> {
  const stored = new Map<string, StoredLog>()
  for (const table of ['processing_logs', 'knee_logs'] as const) {
    const kind = table === 'processing_logs' ? 'maneuver' : 'knee'
    const ids = logs.flatMap((p, i) => (p.kind === kind ? [logIdOf(p, participantIds[i]!)] : []))
    if (ids.length === 0) continue
    const rows = await db
      .selectFrom(table)
      .select(['id', 'log_updated', 'format_version'])
      .where('id', 'in', ids)
      .execute()
    for (const r of rows) stored.set(r.id, r)
  }
  return stored
}

export interface StoredLog {
  log_updated: string | null
  format_version: string
}

/**
 * Refuses to replace a stored log by an older edition of it (an earlier copy of the study found later), and keeps
 * the stored layout label when this workbook's layout is one the stored one cannot be told apart from.
 */
export function judgeStoredLog(
  parsed: ParsedLog,
  storedById: ReadonlyMap<string, StoredLog>,
  participantId: string,
  number: number,
): void {
  const stored = storedById.get(logIdOf(parsed, participantId))
  if (!stored) return
  const incoming = parsed.log.values.log_updated
  if (
    stored.log_updated &&
    typeof incoming === 'string' &&
    // A tool that re-saves a workbook rounds its dates to the millisecond: that is the same edition, not an older one.
    naiveToMicros(stored.log_updated) - naiveToMicros(incoming) >= 1000
  ) {
    const what = logLabel(parsed)
    throw new StaleLogError(
      `the database holds a newer log of participant ${number} ${what} (Log Updated ${stored.log_updated}, ${stored.format_version}) than this workbook (Log Updated ${incoming}); expected the newest edition — delete the newer rows first if this older one is right`,
    )
  }
  const order = ['v1', 'v2', 'v3', 'v4', 'v5']
  const indistinguishable =
    parsed.kind === 'knee'
      ? ['v2', 'v3', 'v4'].includes(parsed.version) && ['v2', 'v3', 'v4'].includes(stored.format_version)
      : parsed.version === 'v2' &&
        stored.format_version === 'v3' &&
        parsed.summaries.length + parsed.cycles.length === 0
  if (indistinguishable && order.indexOf(stored.format_version) > order.indexOf(parsed.version)) {
    parsed.version = stored.format_version as ParsedLog['version']
  }
  refuseOlderLayout(parsed, stored, order, number)
}

/**
 * The same edition of a log (the same Log Updated, to the millisecond) in an earlier layout than the stored one: an
 * export with an older --legacy-version, say. Its layout has no place for some of the stored columns, so importing it
 * would blank them; the stored rows stay.
 */
function refuseOlderLayout(parsed: ParsedLog, stored: StoredLog, order: string[], number: number): void {
  const incoming = parsed.log.values.log_updated
  if (order.indexOf(stored.format_version) <= order.indexOf(parsed.version)) return
  if (!stored.log_updated || typeof incoming !== 'string') return
  if (Math.abs(naiveToMicros(stored.log_updated) - naiveToMicros(incoming)) >= 1000) return
  const what = logLabel(parsed)
  throw new StaleLogError(
    `the database holds this log of participant ${number} ${what} (Log Updated ${stored.log_updated}) in layout ${stored.format_version}, and this workbook is the same edition in the older layout ${parsed.version}, which has no place for some of its columns; expected the ${stored.format_version} workbook (an export made with --legacy-version ${parsed.version} is for reading, not for importing again) — the stored rows were kept`,
    'OLDER_LAYOUT',
  )
}

/** `left walk`, `right knee`: which log of a participant, for messages. */
function logLabel(parsed: ParsedLog): string {
  return parsed.kind === 'maneuver' ? `${parsed.knee} ${parsed.maneuver}` : `${parsed.knee} knee`
}

function maneuverChildren(parsed: ParsedManeuverLog, logId: string): ChildSpec[] {
  const syncIds = new Map<string, string>()
  for (const s of parsed.syncs) {
    const file = (s.values.sync_file as string | null) ?? null
    if (file !== null) syncIds.set(file, deterministicId('synchronizations', logId, file))
  }
  const linkSync = (r: ParsedRecord) => ({
    synchronization_id: syncIds.get(r.values.sync_file as string) ?? null,
  })
  return [
    {
      table: 'audio_processing',
      parentColumn: 'processing_log_id',
      records: parsed.audio,
      keyColumns: ['audio_file'],
    },
    {
      table: 'biomechanics_imports',
      parentColumn: 'processing_log_id',
      records: parsed.biomechanics,
      keyColumns: ['biomechanics_file', 'sheet_name'],
    },
    {
      table: 'synchronizations',
      parentColumn: 'processing_log_id',
      records: parsed.syncs,
      keyColumns: ['sync_file'],
    },
    {
      table: 'cycle_extraction_summaries',
      parentColumn: 'processing_log_id',
      records: parsed.summaries,
      keyColumns: ['sync_file'],
      link: linkSync,
    },
    {
      table: 'movement_cycles',
      parentColumn: 'processing_log_id',
      records: parsed.cycles,
      keyColumns: ['sync_file', 'is_outlier', 'cycle_index'],
      link: linkSync,
    },
  ]
}

function kneeChildren(parsed: ParsedKneeLog): ChildSpec[] {
  return [
    {
      table: 'knee_log_maneuvers',
      parentColumn: 'knee_log_id',
      records: parsed.maneuvers,
      keyColumns: ['maneuver'],
    },
  ]
}

function v(r: ParsedRecord, column: string): string | number | boolean | null {
  return (r.values[column] as string | number | boolean | null | undefined) ?? null
}

export interface KneeLogDisagreement {
  participantId: string
  knee: string
  maneuver: string
  column: string
  kneeLog: unknown
  maneuverLog: unknown
  file: string | null
}

/** Knee-log maneuver rows whose counts or flags differ from the maneuver log's own summary. */
export async function findKneeLogDisagreements(
  db: UnitContext['trx'],
  participantIds: readonly string[],
): Promise<KneeLogDisagreement[]> {
  if (participantIds.length === 0) return []
  const {rows} = await sql<{
    participant_id: string
    knee: string
    maneuver: string
    file: string | null
    k_synced: number | null
    m_synced: number | null
    k_cycles: number | null
    m_cycles: number | null
    k_audio: boolean | null
    m_audio: boolean | null
    k_bio: boolean | null
    m_bio: boolean | null
  }>`
    select kl.participant_id, kl.knee, km.maneuver, f.rel_path as file,
      km.num_synced_files as k_synced, pl.num_synced_files as m_synced,
      km.num_movement_cycles as k_cycles, pl.num_movement_cycles as m_cycles,
      km.audio_processed as k_audio, pl.audio_processed as m_audio,
      km.biomechanics_imported as k_bio, pl.biomechanics_imported as m_bio
    from knee_logs kl
    join knee_log_maneuvers km on km.knee_log_id = kl.id
    join processing_logs pl on pl.participant_id = kl.participant_id and pl.knee = kl.knee and pl.maneuver = km.maneuver
    left join files f on f.id = kl.source_file_id
    where kl.participant_id = any(${`{${participantIds.join(',')}}`}::uuid[])
    order by f.rel_path, km.maneuver`.execute(db)
  const out: KneeLogDisagreement[] = []
  for (const r of rows) {
    const pairs: Array<[string, unknown, unknown]> = [
      ['Num Synced Files', r.k_synced, r.m_synced],
      ['Num Movement Cycles', r.k_cycles, r.m_cycles],
      ['Audio Processed', r.k_audio, r.m_audio],
      ['Biomechanics Imported', r.k_bio, r.m_bio],
    ]
    for (const [column, kneeLog, maneuverLog] of pairs) {
      if (kneeLog !== null && maneuverLog !== null && kneeLog !== maneuverLog) {
        out.push({
          participantId: r.participant_id,
          knee: r.knee,
          maneuver: r.maneuver,
          column,
          kneeLog,
          maneuverLog,
          file: r.file,
        })
      }
    }
  }
  return out
}
