import {type Kysely, sql} from 'kysely'
import {rowContentHash} from '../db/row-content-hash.js'
import {type Database, EXCEL_LOG_TABLES, IMPORTED_TABLES, type ImportedTable} from '../db/schema.js'
import {type CheckFinding, type Severity, shellQuote} from './finding.js'

export interface CheckRowsResult {
  findings: CheckFinding[]
  rows: number
}

interface RowRule {
  code: string
  severity: Severity
  table: string
  /** Selects `id` and `what` (a description of the row a person can find it by). */
  query: ReturnType<typeof sql>
  message: (what: string) => string
}

/** Rows the foreign keys cannot keep honest, each rule one SQL query, plus every imported row's content hash. */
export async function checkRows(db: Kysely<Database>): Promise<CheckRowsResult> {
  const findings: CheckFinding[] = []
  for (const rule of ROW_RULES) {
    const {rows} = await rule.query.execute(db)
    for (const r of rows as Array<{id: string; what: string}>) {
      findings.push({
        check: 'rows',
        code: rule.code,
        severity: rule.severity,
        table: rule.table,
        id: r.id,
        path: null,
        message: rule.message(r.what),
      })
    }
  }
  let count = 0
  for (const table of IMPORTED_TABLES) {
    const edited = await findEditedRows(db, table)
    count += edited.rows
    findings.push(...edited.findings)
  }
  return {findings, rows: count}
}

const ROW_RULES: RowRule[] = [
  {
    code: 'PARTICIPANT_WITHOUT_LOGS',
    severity: 'error',
    table: 'participants',
    query: sql`select p.id, s.name || ' participant ' || p.participant_number as what
      from participants p join studies s on s.id = p.study_id
      where not exists (select 1 from processing_logs l where l.participant_id = p.id)
        and not exists (select 1 from knee_logs k where k.participant_id = p.id)
      order by 2`,
    message: (what) =>
      `${what} has no processing log and no knee log (they were deleted outside aedb). Re-import the participant's logs with aedb backfill-excel, or delete the participant if it should not exist.`,
  },
  ...(['cycle_extraction_summaries', 'movement_cycles'] as const).map(
    (table): RowRule => ({
      code: 'SYNC_FILE_DANGLING',
      severity: 'warning',
      table,
      query: sql`select c.id, coalesce(f.rel_path || ' > ' || c.source_sheet || ' > row ' || c.source_row, c.id::text)
          || ': sync file ' || c.sync_file as what
        from ${sql.table(table)} c left join files f on f.id = c.source_file_id
        where c.sync_file is not null and not exists (
          select 1 from synchronizations s where s.processing_log_id = c.processing_log_id and s.sync_file = c.sync_file)
        order by 2`,
      message: (what) =>
        `${what} names no synchronization of its log. If the synchronization row was deleted outside aedb, restore it with aedb backfill-excel --force on the log's workbook; if the workbook names a sync file it does not have, correct the workbook and re-import it with --force.`,
    }),
  ),
  {
    code: 'KNEE_LOG_MANEUVER_WITHOUT_LOG',
    severity: 'warning',
    table: 'knee_log_maneuvers',
    query: sql`select m.id, s.name || ' participant ' || p.participant_number || ' ' || k.knee || ' ' || m.maneuver as what
      from knee_log_maneuvers m join knee_logs k on k.id = m.knee_log_id
      join participants p on p.id = k.participant_id join studies s on s.id = p.study_id
      where not exists (select 1 from processing_logs l
        where l.participant_id = k.participant_id and l.knee = k.knee and l.maneuver = m.maneuver)
      order by 2`,
    message: (what) =>
      `The knee log lists ${what} but no processing log of that maneuver was imported. Import the maneuver's log with aedb backfill-excel.`,
  },
  {
    code: 'RECORDING_WITHOUT_STEMS',
    severity: 'error',
    table: 'recordings',
    query: sql`select r.id, p.name || '/' || r.folder_name as what
      from recordings r join profiles p on p.id = r.profile_id
      where not exists (select 1 from stems s where s.recording_id = r.id) order by 2`,
    message: (what) =>
      `Recording ${what} has no stems (they were deleted outside aedb). Re-import the tree with aedb import-json.`,
  },
  {
    code: 'STEM_FILE_ROW_MISSING',
    severity: 'error',
    table: 'stems',
    query: sql`select s.id, p.name || '/' || r.folder_name || ' ' || s.stem_type as what
      from stems s join recordings r on r.id = s.recording_id join profiles p on p.id = r.profile_id
      where s.file_id is null or not exists (select 1 from files f where f.id = s.file_id) order by 2`,
    message: (what) =>
      `Stem ${what} has no audio file row (deleted outside aedb). Re-import the tree with aedb import-json.`,
  },
  {
    code: 'SOURCE_AUDIO_UNREFERENCED',
    severity: 'warning',
    table: 'source_audio',
    query: sql`select a.id, a.sha256 as what from source_audio a
      where not exists (select 1 from recordings r where r.source_audio_id = a.id) order by 2`,
    message: (what) =>
      `Source audio ${what} is linked to no recording. Nothing to do if the recording was re-linked; otherwise re-import the tree with aedb import-json.`,
  },
  {
    code: 'PROCESSED_HASH_FOLDER_MISSING',
    severity: 'warning',
    table: 'processed_hashes',
    query: sql`select h.id, p.name || '/.processed_hashes.json: ' || h.sha256 || ' -> ' || h.folder_name as what
      from processed_hashes h join profiles p on p.id = h.profile_id
      where not exists (select 1 from recordings r where r.profile_id = h.profile_id and r.folder_name = h.folder_name)
      order by 2`,
    message: (what) =>
      `${what} names a folder that is not a recording (the legacy app recorded some before their folder existed). Nothing to fix unless the folder should exist.`,
  },
]

/** The natural key of each imported table, without the parent's id, for messages. */
const NATURAL_KEY: Record<ImportedTable, string[]> = {
  processing_logs: ['knee', 'maneuver'],
  audio_processing: ['audio_file'],
  biomechanics_imports: ['biomechanics_file', 'sheet_name'],
  synchronizations: ['sync_file'],
  cycle_extraction_summaries: ['sync_file'],
  movement_cycles: ['sync_file', 'is_outlier', 'cycle_index'],
  knee_logs: ['knee'],
  knee_log_maneuvers: ['maneuver'],
  profiles: ['name'],
  recordings: ['folder_name'],
  stems: ['stem_type'],
  processed_hashes: ['sha256'],
}

const PAGE_ROWS = 2000

/** Tables the Excel logs fill: their sources' bytes are unchanged, so only a forced re-import reads them again. */
const EXCEL_TABLES: ReadonlySet<ImportedTable> = new Set(EXCEL_LOG_TABLES)

/** How to write an edited row back from its source: a command that does read it again. */
function restoreHint(table: ImportedTable, sourceFile: string | null): string {
  // import-json skips a recording whose files are unchanged and never rewrites a row its source still matches.
  if (!EXCEL_TABLES.has(table))
    return 'set it back by hand from there (a re-import does not rewrite a row whose source is unchanged)'
  const workbook = sourceFile ? shellQuote(sourceFile) : '<log.xlsx>'
  // --force writes back what the workbook has and takes columns its layout lacks from audit_log; where audit_log no
  // longer holds them it leaves the row's hash as imported, so this finding stays open and the rest is by hand.
  return `restore it with aedb backfill-excel --force ${workbook} (a plain re-import skips a workbook whose bytes were imported; columns the workbook's layout lacks are put back to the values audit_log shows aedb wrote, and if this finding is still open after --force, audit_log no longer has them: set those columns back by hand to their imported values)`
}

/** Rows whose stored content_hash is not the hash of their columns as read back: edited outside aedb. */
async function findEditedRows(db: Kysely<Database>, table: ImportedTable): Promise<CheckRowsResult> {
  const findings: CheckFinding[] = []
  let rows = 0
  let after = '00000000-0000-0000-0000-000000000000'
  for (;;) {
    const page = await sql<
      Record<string, unknown> & {id: string; content_hash: string; source_file: string | null}
    >`
      select t.*, coalesce(r.path || '/' || f.rel_path, f.rel_path) as source_file
      from ${sql.table(table)} t left join files f on f.id = t.source_file_id left join import_roots r on r.id = f.root_id
      where t.id > ${after}::uuid order by t.id limit ${PAGE_ROWS}`.execute(db)
    for (const row of page.rows) {
      rows++
      if (rowContentHash(table, row) === row.content_hash) continue
      const key = NATURAL_KEY[table].map((c) => `${c}=${JSON.stringify(row[c] ?? null)}`).join(', ')
      const from = [
        row.source_file,
        row.source_sheet,
        row.source_row ? `row ${row.source_row}` : row.source_path,
      ]
        .filter((p) => p !== null && p !== undefined && p !== '')
        .join(' > ')
      findings.push({
        check: 'rows',
        code: 'ROW_EDITED',
        severity: 'error',
        table,
        id: row.id,
        path: null,
        message: `${table} ${row.id} (${key}) no longer matches its content hash: it was changed outside aedb since it was imported from ${from || 'its source'}. See audit_log for the change; ${restoreHint(table, row.source_file)}, or re-import after fixing the source if the edit was a correction.`,
      })
    }
    if (page.rows.length < PAGE_ROWS) break
    after = page.rows.at(-1)!.id
  }
  return {findings, rows}
}
