import path from 'node:path'
import {type Kysely, sql} from 'kysely'
import {pgCode} from '../../db/connection.js'
import {MIGRATIONS} from '../../db/migrations.js'
import {assertSchemaCurrent} from '../../db/migrator.js'
import type {Database} from '../../db/schema.js'
import {FileCatalog, type FileRecord} from '../../files/file-catalog.js'
import {mapConcurrent} from '../../files/map-concurrent.js'
import {type ImportResult, ImportSession, type ImportWarning, type Rejection} from '../import-session.js'
import {discoverWorkbooks, looksLikeLogName} from './discover-workbooks.js'
import type {FormatVersion} from './field-maps.js'
import {isAedbWrittenWorkbook, NEVER_IMPORTED_KINDS} from './is-aedb-written-workbook.js'
import {type ParsedLog, parseLog, STUDY_NAMES, type StudyName} from './parse-log.js'
import {peekSheetNames, readWorkbook, WorkbookReadError} from './read-workbook.js'
import {buildReferenceIndex, resolveReference} from './resolve-references.js'
import {EXCEL_PARSER_VERSION, findKneeLogDisagreements, StaleLogError, writeLog} from './write-log.js'
import {type RejectedRow, writeRejectsWorkbook} from './write-rejects.js'

export interface BackfillProgress {
  phase: 'read' | 'write'
  done: number
  total: number
  rows: number
  bytesHashed: number
}

export interface BackfillExcelProps {
  db: Kysely<Database>
  paths: readonly string[]
  /** The study for logs that do not name one (and no other log of the same participant does). */
  study?: StudyName
  dryRun?: boolean
  jobs?: number
  /** Stop after this many rejected workbooks. */
  maxErrors?: number
  coerceInvalid?: boolean
  /** Write the rejected rows, with their original cells and the reason, to this workbook. */
  rejectsFile?: string
  argv?: readonly string[]
  version: string
  onProgress?: (progress: BackfillProgress) => void
  onWarning?: (warning: ImportWarning) => void
}

export type BackfillExcelResult = ImportResult

/** Sheets only a processing log has (maneuver log, knee log, v5 reports). */
const LOG_SHEETS = new Set(['Summary', 'Maneuver Summaries', 'Knee Summary'])

interface Candidate {
  root: string
  file: string
  catalog: FileCatalog
  workbook?: FileRecord
  parsed?: ParsedLog
  references?: FileRecord[]
  rawRows?: Map<string, Map<number, Record<string, unknown>>>
  participantNumber?: number
  study?: StudyName
}

/** Imports every legacy processing log under `paths`: each workbook all-or-nothing, idempotently. */
export async function backfillExcel(props: BackfillExcelProps): Promise<BackfillExcelResult> {
  await assertSchemaCurrent(props.db, MIGRATIONS)
  const jobs = Math.max(1, props.jobs ?? 4)
  const knownRoots = (await props.db.selectFrom('import_roots').select('path').execute()).map((r) => r.path)
  const roots = await discoverWorkbooks(props.paths, knownRoots)
  const session = await ImportSession.start({
    db: props.db,
    command: 'backfill-excel',
    argv: props.argv ?? [],
    version: props.version,
    dryRun: props.dryRun ?? false,
    ...(props.onWarning ? {onWarning: props.onWarning} : {}),
  })
  try {
    let bytesHashed = 0
    let rows = 0
    const skip = (absolute: string, reason: string, counted = false) => {
      if (!counted) session.files.seen++
      session.files.skipped++
      session.warn({file: absolute, code: 'SKIPPED', message: `skipped: ${reason}`})
    }
    const candidates: Candidate[] = []
    for (const root of roots) {
      const catalog = new FileCatalog(root.root, (bytes) => {
        bytesHashed += bytes
      })
      await catalog.load(session.db)
      for (const skipped of root.skipped) skip(path.join(root.root, skipped.file), skipped.reason)
      for (const file of root.workbooks) candidates.push({root: root.root, file, catalog})
    }
    const indexes = new Map(roots.map((r) => [r.root, buildReferenceIndex(r.allFiles)]))
    const imported = await importedWorkbooks(session.db)
    const progress = (phase: BackfillProgress['phase'], done: number, total: number) =>
      props.onProgress?.({phase, done, total, rows, bytesHashed})
    let read = 0
    const rejectedRows: RejectedRow[] = []
    const rejectWorkbook = (candidate: Candidate, problems: Rejection[]) => {
      session.files.rejected++
      for (const problem of problems) {
        session.reject(problem)
        const original =
          problem.sheet && problem.row ? candidate.rawRows?.get(problem.sheet)?.get(problem.row) : undefined
        rejectedRows.push({...problem, original: original ?? null})
      }
    }

    // Phase 1: hash, skip what this parser already imported, read and parse the rest (in parallel).
    const maxErrorsReached = () => props.maxErrors !== undefined && session.files.rejected >= props.maxErrors
    let stopped = false
    const stop = (file: string) => {
      if (stopped) return
      stopped = true
      session.warn({
        file,
        code: 'MAX_ERRORS',
        message: `stopped after ${session.files.rejected} rejected workbook(s) (--max-errors ${props.maxErrors}); the workbooks after it were not imported`,
      })
    }
    await mapConcurrent(candidates, jobs, async (candidate) => {
      if (maxErrorsReached()) {
        stop(candidate.file)
        return
      }
      session.files.seen++
      const {catalog, file} = candidate
      try {
        const workbook = await catalog.describe(file, 'workbook', {probe: false})
        candidate.workbook = workbook
        if (imported.has(workbook.sha256!)) {
          session.files.unchanged++
          return
        }
        const aedbKind = await isAedbWrittenWorkbook(catalog.resolveInside(file))
        if (aedbKind !== null && NEVER_IMPORTED_KINDS.has(aedbKind)) {
          skip(
            catalog.resolveInside(file),
            `written by aedb (marker aedb:${aedbKind}: ${aedbKind === 'rejects' ? 'a --rejects workbook' : 'an export'}); aedb never imports its own rejects or table exports`,
            true,
          )
          return
        }
        if (!looksLikeLogName(file)) {
          // Not named like a log: read the whole workbook only if its sheets are those of one.
          const sheets = await peekSheetNames(catalog.resolveInside(file))
          if (!sheets?.some((name) => LOG_SHEETS.has(name))) {
            skip(
              catalog.resolveInside(file),
              'not a processing log (neither its name nor its sheets are)',
              true,
            )
            return
          }
        }
        let raw: Awaited<ReturnType<typeof readWorkbook>>
        try {
          raw = await readWorkbook(catalog.resolveInside(file))
        } catch (error) {
          if (!(error instanceof WorkbookReadError)) throw error
          if (!looksLikeLogName(file)) {
            skip(
              catalog.resolveInside(file),
              'not a readable workbook, and not named like a processing log',
              true,
            )
            return
          }
          rejectWorkbook(candidate, [
            {
              file,
              sheet: null,
              row: null,
              column: null,
              code: 'WORKBOOK_UNREADABLE',
              message: `${error.message}; expected an Excel workbook written by the processing pipeline`,
            },
          ])
          return
        }
        candidate.rawRows = new Map(
          raw.sheets.map((s) => [
            s.name,
            new Map(s.rows.map((r) => [r.rowNumber, Object.fromEntries(r.cells)])),
          ]),
        )
        const result = parseLog(raw, {
          file,
          absolutePath: catalog.resolveInside(file),
          coerceInvalid: props.coerceInvalid ?? false,
        })
        const isLog = looksLikeLogName(file)
        if (
          !result.parsed &&
          !isLog &&
          result.problems.every((p) => p.code === 'LAYOUT_UNKNOWN' || p.code === 'WORKBOOK_EMPTY')
        ) {
          skip(
            catalog.resolveInside(file),
            'not a processing log (neither its name nor its sheets are)',
            true,
          )
          return
        }
        for (const warning of result.warnings) session.warn({file, ...warning})
        if (!result.parsed) {
          rejectWorkbook(candidate, result.problems)
          return
        }
        candidate.parsed = result.parsed
        rows += countRecords(result.parsed)
        const index = indexes.get(candidate.root)!
        const maneuverDir = path.posix.dirname(file)
        const references = await mapConcurrent(result.parsed.references, 4, async (ref) => {
          const resolved = resolveReference(ref.value, maneuverDir, index, ref.defaultDir)
          try {
            return await catalog.describe(resolved.relPath, ref.kind, {probe: false})
          } catch (error) {
            // A referenced file that cannot be read (a link out of the tree, no permission) is noted, not fatal.
            session.warn({
              file,
              code: 'REFERENCE_UNREADABLE',
              message: `${resolved.relPath}: ${(error as Error).message}`,
            })
            return null
          }
        })
        candidate.references = references.filter((r): r is FileRecord => r !== null)
      } catch (error) {
        const code = pgCode(error)
        if (code === undefined || /^[0-9A-Z]{5}$/.test(code)) throw error
        // Node file-system errors (EACCES, EIO): this workbook cannot be read; the others go on.
        rejectWorkbook(candidate, [
          {
            file,
            sheet: null,
            row: null,
            column: null,
            code: 'WORKBOOK_UNREADABLE',
            message: `${(error as Error).message}; expected a readable file`,
          },
        ])
        candidate.parsed = undefined
      } finally {
        progress('read', ++read, candidates.length)
      }
    })

    rejectDuplicateLogs(candidates, rejectWorkbook, skip)
    const parsed = candidates.filter((c) => c.parsed)
    settleAmbiguousVersions(parsed)
    await resolveStudies(session.db, parsed, props.study ?? null, (c, problem) => {
      rejectWorkbook(c, [problem])
      c.parsed = undefined
    })

    // Phase 2: write, one transaction per workbook.
    const participants = new Set<string>()
    const toWrite = parsed.filter((c) => c.parsed)
    let written = 0
    // Workbooks read before a --max-errors stop are still written; a refusal while writing can stop the rest.
    const rejectedBeforeWriting = session.files.rejected
    await mapConcurrent(toWrite, jobs, async (candidate) => {
      if (maxErrorsReached() && session.files.rejected > rejectedBeforeWriting) {
        stop(candidate.file)
        return
      }
      try {
        const result = await session.unit((ctx) =>
          writeLog({
            ctx,
            parsed: candidate.parsed!,
            study: candidate.study!,
            participantNumber: candidate.participantNumber!,
            root: candidate.root,
            workbook: candidate.workbook!,
            references: candidate.references ?? [],
          }),
        )
        participants.add(result.participantId)
        if (result.changed) session.files.imported++
        else session.files.unchanged++
      } catch (error) {
        // Data the schema refuses (a CHECK, a range) rejects this workbook; anything else is a bug or an outage.
        if (error instanceof StaleLogError) {
          rejectWorkbook(candidate, [
            {
              file: candidate.file,
              sheet: 'Summary',
              row: 2,
              column: 'Log Updated',
              code: 'STALE_LOG',
              message: error.message,
            },
          ])
          return
        }
        if (!/^(22|23|54)/.test(pgCode(error) ?? '')) throw error
        rejectWorkbook(candidate, [
          {
            file: candidate.file,
            sheet: null,
            row: null,
            column: null,
            code: 'WRITE_REFUSED',
            message: `the database refused the workbook: ${(error as Error).message}`,
          },
        ])
      } finally {
        progress('write', ++written, toWrite.length)
      }
    })

    for (const d of await findKneeLogDisagreements(session.db, [...participants])) {
      session.warn({
        file: d.file ?? '(knee log)',
        code: 'KNEE_LOG_MISMATCH',
        message: `knee log says ${d.column} = ${String(d.kneeLog)} for ${d.knee} ${d.maneuver}, the maneuver log says ${String(d.maneuverLog)}`,
      })
    }
    if (session.files.seen === 0) {
      session.warn({
        file: props.paths.join(', '),
        code: 'NO_LOGS_FOUND',
        message:
          'no .xlsx workbooks found; expected a study folder with participant folders (#1011/Left Knee/Walking/processing_log_1011_Left_walk.xlsx, …)',
      })
    }
    if (props.rejectsFile) await writeRejectsWorkbook(props.rejectsFile, rejectedRows)
    return await session.finish()
  } catch (error) {
    await session.abort()
    throw error
  }
}

function countRecords(parsed: ParsedLog): number {
  return parsed.kind === 'knee'
    ? 1 + parsed.maneuvers.length
    : 1 +
        parsed.audio.length +
        parsed.biomechanics.length +
        parsed.syncs.length +
        parsed.summaries.length +
        parsed.cycles.length
}

/** SHA-256 of every workbook (wherever it was) this parser version has already imported. */
async function importedWorkbooks(db: Kysely<Database>): Promise<Set<string>> {
  const rows = await db
    .selectFrom('source_imports')
    .select(['sha256'])
    .where('importer', '=', 'excel')
    .where('parser_version', '=', EXCEL_PARSER_VERSION)
    .execute()
  return new Set(rows.map((r) => r.sha256))
}

/**
 * Two workbooks in one run for the same log (participant, knee, maneuver): the same bytes twice (a backup copy)
 * are imported once; different contents are all rejected, since neither can be trusted to be the log.
 */
function rejectDuplicateLogs(
  candidates: Candidate[],
  reject: (candidate: Candidate, problems: Rejection[]) => void,
  skip: (absolute: string, reason: string, counted: boolean) => void,
): void {
  const groups = new Map<string, Candidate[]>()
  for (const c of candidates) {
    const p = c.parsed
    if (!p || p.participantNumber === null) continue
    const key = JSON.stringify([
      p.kind,
      p.participantNumber,
      p.knee,
      p.kind === 'maneuver' ? p.maneuver : null,
    ])
    groups.set(key, [...(groups.get(key) ?? []), c])
  }
  for (const group of groups.values()) {
    if (group.length < 2) continue
    const [first, ...rest] = group
    if (rest.every((c) => c.workbook?.sha256 === first!.workbook?.sha256)) {
      for (const c of rest) {
        c.parsed = undefined
        skip(path.join(c.root, c.file), `same bytes as ${first!.file}, imported once`, true)
      }
      continue
    }
    const files = group.map((c) => c.file).join(', ')
    for (const c of group) {
      reject(c, [
        {
          file: c.file,
          sheet: 'Summary',
          row: 2,
          column: null,
          code: 'DUPLICATE_LOG',
          message: `${group.length} different workbooks are the same log (${files}); expected one — move the stale copies out of the tree`,
        },
      ])
      c.parsed = undefined
    }
  }
}

const ORDER: FormatVersion[] = ['v1', 'v2', 'v3', 'v4', 'v5']

/**
 * A log whose distinguishing sheets are placeholders (v2 and v3 differ only in Movement Cycles / Cycle Details;
 * knee logs did not change from v2 to v4) is given the layout of the maneuver logs beside it when theirs is later.
 */
function settleAmbiguousVersions(candidates: Candidate[]): void {
  const newestByKnee = new Map<string, FormatVersion>()
  const kneeDir = (c: Candidate) =>
    `${c.root}\0${c.parsed!.kind === 'knee' ? path.posix.dirname(c.file) : path.posix.dirname(path.posix.dirname(c.file))}`
  for (const c of candidates) {
    if (c.parsed!.kind !== 'maneuver') continue
    const key = kneeDir(c)
    const current = newestByKnee.get(key)
    if (!current || ORDER.indexOf(c.parsed!.version) > ORDER.indexOf(current))
      newestByKnee.set(key, c.parsed!.version)
  }
  for (const c of candidates) {
    const sibling = newestByKnee.get(kneeDir(c))
    const p = c.parsed!
    if (!sibling) continue
    if (
      p.kind === 'maneuver' &&
      p.version === 'v2' &&
      sibling === 'v3' &&
      p.summaries.length === 0 &&
      p.cycles.length === 0
    )
      p.version = 'v3'
    if (
      p.kind === 'knee' &&
      p.version !== 'v5' &&
      sibling !== 'v5' &&
      ORDER.indexOf(sibling) > ORDER.indexOf(p.version)
    ) {
      const hasModernColumns = p.maneuvers.some(
        (m) => 'consensus_time_s' in m.values && m.values.consensus_time_s !== null,
      )
      if (p.version === 'v2' || !hasModernColumns) p.version = sibling
    }
  }
}

/** Where a participant number already is in the database: its study, and the run that put it there. */
interface KnownParticipant {
  study: StudyName
  runId: string | null
  runCommand: string | null
  runStarted: string | null
}

/**
 * The study of each log: the one it names; else the one another log of the same participant names (in this run or
 * already in the database); else --study. A log naming a study other than --study is rejected naming both, and so
 * is a log that would put a participant already stored under another study into a second one (issue 9 item 2).
 */
async function resolveStudies(
  db: Kysely<Database>,
  candidates: Candidate[],
  flagStudy: StudyName | null,
  reject: (candidate: Candidate, problem: Rejection) => void,
): Promise<void> {
  const named = studiesNamedInRun(candidates)
  const known = await studiesInDatabase(db, candidates)
  for (const c of candidates) {
    const p = c.parsed!
    const problem = (code: string, column: string | null, message: string): Rejection => ({
      file: c.file,
      sheet: 'Summary',
      row: 2,
      column,
      code,
      message,
    })
    if (p.participantNumber === null) {
      reject(
        c,
        problem(
          'PARTICIPANT_UNKNOWN',
          'Study ID',
          `found no participant number; expected a Study ID such as 1011 (or the log inside a #1011 folder)`,
        ),
      )
      continue
    }
    const stored = known.get(p.participantNumber) ?? []
    const study = chooseStudy(p, flagStudy, named, stored, problem)
    if ('code' in study) {
      reject(c, study)
      continue
    }
    const elsewhere = stored.filter((k) => k.study !== study.study)
    if (elsewhere.length > 0) {
      reject(
        c,
        otherStudyProblem(p.participantNumber, study.study, elsewhere, problem, p.studyNamed !== null),
      )
      continue
    }
    c.participantNumber = p.participantNumber
    c.study = study.study
  }
}

function studiesNamedInRun(candidates: Candidate[]): Map<number, Set<StudyName>> {
  const named = new Map<number, Set<StudyName>>()
  for (const c of candidates) {
    const p = c.parsed!
    if (p.participantNumber === null || !p.studyNamed) continue
    const set = named.get(p.participantNumber) ?? new Set()
    set.add(p.studyNamed)
    named.set(p.participantNumber, set)
  }
  return named
}

async function studiesInDatabase(
  db: Kysely<Database>,
  candidates: Candidate[],
): Promise<Map<number, KnownParticipant[]>> {
  const numbers = [
    ...new Set(candidates.map((c) => c.parsed!.participantNumber).filter((n): n is number => n !== null)),
  ]
  const known = new Map<number, KnownParticipant[]>()
  if (numbers.length === 0) return known
  const {rows} = await sql<{
    participant_number: number
    name: StudyName
    run_id: string | null
    command: string | null
    started_at: Date | string | null
  }>`
    select p.participant_number, s.name, p.run_id, r.command, r.started_at
    from participants p join studies s on s.id = p.study_id left join runs r on r.id = p.run_id
    where p.participant_number = any(${`{${numbers.join(',')}}`}::int[])`.execute(db)
  for (const r of rows) {
    const list = known.get(r.participant_number) ?? []
    list.push({
      study: r.name,
      runId: r.run_id,
      runCommand: r.command,
      runStarted: r.started_at === null ? null : new Date(r.started_at).toISOString(),
    })
    known.set(r.participant_number, list)
  }
  return known
}

function chooseStudy(
  p: ParsedLog,
  flagStudy: StudyName | null,
  named: Map<number, Set<StudyName>>,
  stored: KnownParticipant[],
  problem: (code: string, column: string | null, message: string) => Rejection,
): {study: StudyName} | Rejection {
  const number = p.participantNumber!
  if (p.studyNamed) {
    if (flagStudy && flagStudy !== p.studyNamed)
      return problem(
        'STUDY_CONFLICT',
        'Study',
        `the workbook names study ${p.studyNamed} but --study says ${flagStudy}; expected them to agree (drop --study or fix the workbook)`,
      )
    return {study: p.studyNamed}
  }
  const storedStudies = new Set(stored.map((k) => k.study))
  const siblings = named.get(number) ?? (storedStudies.size > 0 ? storedStudies : undefined)
  if (siblings && siblings.size === 1) return {study: [...siblings][0]!}
  if (siblings && siblings.size > 1 && !flagStudy)
    return problem(
      'STUDY_AMBIGUOUS',
      'Study ID',
      `participant ${number} appears in studies ${[...siblings].join(' and ')}; pass --study to say which this log belongs to`,
    )
  if (flagStudy) return {study: flagStudy}
  return problem(
    'STUDY_UNKNOWN',
    'Study ID',
    `no log of participant ${number} names its study; pass --study (one of ${STUDY_NAMES.join(', ')})`,
  )
}

function otherStudyProblem(
  number: number,
  study: StudyName,
  elsewhere: KnownParticipant[],
  problem: (code: string, column: string | null, message: string) => Rejection,
  studyNamed: boolean,
): Rejection {
  const where = elsewhere
    .map(
      (k) =>
        `study ${k.study} (set by run ${k.runId ?? 'unknown'}${k.runCommand ? `, ${k.runCommand} started ${k.runStarted}` : ''})`,
    )
    .join(' and ')
  return problem(
    'PARTICIPANT_IN_OTHER_STUDY',
    studyNamed ? 'Study' : 'Study ID',
    `participant ${number} is already in ${where}; this log puts it in study ${study}. Expected one study per participant: if ${number} belongs to ${study}, run \`aedb move-participant ${number} --to ${study}\` and import again; otherwise fix the workbook`,
  )
}
