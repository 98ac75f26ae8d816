import {availableParallelism} from 'node:os'
import path from 'node:path'
import {type Kysely, sql} from 'kysely'
import {pgCode} from '../../db/connection.js'
import {MIGRATIONS} from '../../db/migrations.js'
import {assertSchemaCurrent} from '../../db/migrator.js'
import type {Database} from '../../db/schema.js'
import {FileCatalog, type FileRecord} from '../../files/file-catalog.js'
import {mapConcurrent} from '../../files/map-concurrent.js'
import {type ImportResult, ImportSession, type ImportWarning, type Rejection} from '../import-session.js'
import {refuseStemsetTree} from '../refuse-other-kind-of-tree.js'
import {rootLabel} from '../root-label.js'
import {discoverWorkbooks, looksLikeLogName} from './discover-workbooks.js'
import type {FormatVersion} from './field-maps.js'
import {isAedbWrittenWorkbook, NEVER_IMPORTED_KINDS} from './is-aedb-written-workbook.js'
import {
  hasModernManeuvers,
  type PackedRecords,
  packValue,
  releaseRecords,
  unpackRecords,
  unpackValue,
} from './packed-records.js'
import {type ParsedLog, STUDY_NAMES, type StudyName} from './parse-log.js'
import {type HeldRawRows, originalRow} from './read-and-parse.js'
import {ReadAndParsePool} from './read-and-parse-pool.js'
import {peekSheetNames} from './read-workbook.js'
import {buildReferenceIndex, resolveReference} from './resolve-references.js'
import {
  EXCEL_PARSER_VERSION,
  findKneeLogDisagreements,
  StaleLogError,
  type WriteLogResult,
  writeLog,
} from './write-log.js'
import {type BatchedLog, BatchSplitError, writeLogBatch} from './write-log-batch.js'
import {prepareRejectsPath, type RejectedRow, writeRejectsWorkbook} from './write-rejects.js'

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
  /** Stops the run between workbooks: the one in flight commits or rolls back, no other starts. */
  signal?: AbortSignal
  /**
   * Worker threads that read and parse workbooks (0: in this thread). Default: for 16 workbooks or more, one per
   * core up to --jobs; fewer are not worth a thread's start-up.
   */
  parseThreads?: number
  /** Most workbooks written in one transaction (default 64; 1: one transaction per workbook, as before 0.2). */
  batchWorkbooks?: number
  /**
   * Read and write every workbook, also those whose bytes this parser already imported: rows edited outside aedb are
   * restored (every written column is compared, not only content_hash) and referenced files are looked at again.
   */
  force?: boolean
}

export type BackfillExcelResult = ImportResult

/** Sheets only a processing log has (maneuver log, knee log, v5 reports). */
const LOG_SHEETS = new Set(['Summary', 'Maneuver Summaries', 'Knee Summary'])

interface Candidate {
  root: string
  file: string
  /** How messages name the workbook: `file`, after its root (as given) when the run has several roots. */
  shown: string
  catalog: FileCatalog
  workbook?: FileRecord
  parsed?: ParsedLog
  /** A rejected workbook as far as it could be read: its study is checked too, so one run lists every problem. */
  draft?: ParsedLog
  /** The files `parsed` references, described and packed (packValue) while it waits to be written. */
  references?: Uint8Array
  /** The records of `parsed` while it waits to be written (its lists are empty until then). */
  packed?: PackedRecords
  rawRows?: HeldRawRows
  participantNumber?: number
  study?: StudyName
}

/** Imports every legacy processing log under `paths`: each workbook all-or-nothing, idempotently. */
export async function backfillExcel(props: BackfillExcelProps): Promise<BackfillExcelResult> {
  await assertSchemaCurrent(props.db, MIGRATIONS)
  if (props.rejectsFile && !props.dryRun) await prepareRejectsPath(props.rejectsFile)
  const knownRoots = (await props.db.selectFrom('import_roots').select('path').execute()).map((r) => r.path)
  const roots = await discoverWorkbooks(props.paths, knownRoots)
  if (roots.every((r) => r.workbooks.length === 0 && r.skipped.length === 0))
    refuseStemsetTree(
      props.paths,
      roots.flatMap((r) => r.allFiles),
    )
  const session = await ImportSession.start({
    db: props.db,
    command: 'backfill-excel',
    argv: props.argv ?? [],
    version: props.version,
    dryRun: props.dryRun ?? false,
    ...(props.onWarning ? {onWarning: props.onWarning} : {}),
    ...(props.signal ? {signal: props.signal} : {}),
  })
  const run = new BackfillRun(props, session)
  try {
    const candidates = await run.listCandidates(roots)
    await run.readAll(candidates, await importedWorkbooks(session.db))
    // The parser threads' heaps are not needed while writing (a later read starts them again).
    await run.close()
    const parsed = await run.settle(candidates)
    await run.writeAll(parsed)
    await run.revisitAmbiguousLogs(candidates)
    await run.warnKneeLogDisagreements()
    if (session.files.seen === 0 && !session.stopping) {
      session.warn({
        file: props.paths.join(', '),
        code: 'NO_LOGS_FOUND',
        message:
          'no .xlsx workbooks found; expected a study folder with participant folders (#1011/Left Knee/Walking/processing_log_1011_Left_walk.xlsx, …)',
      })
    }
    // A dry run writes nothing at all, the rejects workbook included.
    if (props.rejectsFile && !session.dryRun) await writeRejectsWorkbook(props.rejectsFile, run.rejectedRows)
    return await session.finish()
  } catch (error) {
    await session.abort()
    throw error
  } finally {
    await run.close()
  }
}

/** The state of one backfill run and its steps: list, read and parse, settle, write, revisit. */
class BackfillRun {
  readonly rejectedRows: RejectedRow[] = []
  private readonly jobs: number
  private bytesHashed = 0
  private rows = 0
  private stopped = false
  private readonly participants = new Set<string>()
  private indexes = new Map<string, ReturnType<typeof buildReferenceIndex>>()
  /** Candidates passed over because this parser already imported their bytes. */
  private readonly unchanged = new Set<Candidate>()
  private pool: ReadAndParsePool | null = null

  constructor(
    private readonly props: BackfillExcelProps,
    private readonly session: ImportSession,
  ) {
    this.jobs = Math.max(1, props.jobs ?? 4)
  }

  async listCandidates(roots: Awaited<ReturnType<typeof discoverWorkbooks>>): Promise<Candidate[]> {
    const candidates: Candidate[] = []
    for (const root of roots) {
      const catalog = new FileCatalog(root.root, (bytes) => {
        this.bytesHashed += bytes
      })
      await catalog.load(this.session.db)
      for (const skipped of root.skipped) this.skip(path.join(root.root, skipped.file), skipped.reason)
      for (const denied of root.unreadable) this.rejectUnreadableFolder(root.root, denied)
      const label = roots.length > 1 ? `${rootLabel(root.root, this.props.paths)}/` : ''
      for (const file of root.workbooks)
        candidates.push({root: root.root, file, shown: label + file, catalog})
    }
    this.indexes = new Map(roots.map((r) => [r.root, buildReferenceIndex(r.allFiles)]))
    const threads =
      this.props.parseThreads ?? (candidates.length >= 16 ? Math.min(this.jobs, availableParallelism()) : 0)
    this.pool = new ReadAndParsePool(threads)
    return candidates
  }

  async close(): Promise<void> {
    await this.pool?.close()
  }

  /** Phase 1: hash, skip what this parser already imported, read and parse the rest (in parallel). */
  async readAll(candidates: Candidate[], imported: ReadonlySet<string>): Promise<void> {
    let read = 0
    await mapConcurrent(candidates, this.jobs, async (candidate) => {
      if (this.session.stopping) return
      if (this.maxErrorsReached()) {
        this.stop(candidate.shown)
        return
      }
      this.session.files.seen++
      try {
        await this.readCandidate(candidate, imported)
      } catch (error) {
        const code = pgCode(error)
        if (code === undefined || /^[0-9A-Z]{5}$/.test(code)) throw error
        // Node file-system errors (EACCES, EIO): this workbook cannot be read; the others go on.
        this.rejectWorkbook(candidate, [
          workbookProblem(
            candidate.shown,
            'WORKBOOK_UNREADABLE',
            `${(error as Error).message}; expected a readable file`,
          ),
        ])
        candidate.parsed = undefined
      } finally {
        this.progress('read', ++read, candidates.length)
      }
    })
  }

  private async readCandidate(candidate: Candidate, imported: ReadonlySet<string>): Promise<void> {
    const {catalog, file} = candidate
    const absolute = catalog.resolveInside(file)
    const workbook = await catalog.describe(file, 'workbook', {probe: false})
    candidate.workbook = workbook
    if (workbook.sha256 === null) {
      // Gone since the listing, or a FIFO/device (opening one would block): nothing to read.
      this.skip(absolute, workbook.probe_error ?? 'no longer there', true)
      return
    }
    if (!this.props.force && imported.has(workbook.sha256) && !this.revertedSince(catalog, workbook)) {
      this.session.files.unchanged++
      this.unchanged.add(candidate)
      return
    }
    const aedbKind = await isAedbWrittenWorkbook(absolute)
    if (aedbKind !== null && NEVER_IMPORTED_KINDS.has(aedbKind)) {
      this.skip(
        absolute,
        `written by aedb (marker aedb:${aedbKind}: ${aedbKind === 'rejects' ? 'a --rejects workbook' : 'an export'}); aedb never imports its own rejects or table exports`,
        true,
      )
      return
    }
    const notLog = 'not a processing log (neither its name nor its sheets are)'
    // Not named like a log: read the whole workbook only if its sheets are those of one.
    if (!looksLikeLogName(file) && !(await peekSheetNames(absolute))?.some((name) => LOG_SHEETS.has(name))) {
      this.skip(absolute, notLog, true)
      return
    }
    if (workbook.size_bytes === 0) {
      this.rejectWorkbook(candidate, [
        workbookProblem(
          candidate.shown,
          'WORKBOOK_UNREADABLE',
          'the file is empty (0 bytes); expected an Excel workbook written by the processing pipeline',
        ),
      ])
      return
    }
    const outcome = await this.pool!.run({
      absolute,
      options: {
        file: candidate.shown,
        absolutePath: absolute,
        coerceInvalid: this.props.coerceInvalid ?? false,
      },
    })
    // A file-system error (EACCES, EIO) surfaces as it would have in this thread: readAll rejects the workbook.
    if (outcome.kind === 'error') throw Object.assign(new Error(outcome.message), {code: outcome.code})
    if (outcome.kind === 'read-error') {
      this.rejectUnreadable(candidate, outcome)
      return
    }
    const result = outcome.result
    candidate.rawRows = outcome.rawRows
    if (
      !result.parsed &&
      !looksLikeLogName(file) &&
      result.problems.every((p) => p.code === 'LAYOUT_UNKNOWN' || p.code === 'WORKBOOK_EMPTY')
    ) {
      this.skip(absolute, notLog, true)
      return
    }
    for (const warning of result.warnings) this.session.warn({file: candidate.shown, ...warning})
    if (!result.parsed) {
      if (this.rejectWorkbook(candidate, result.problems) && result.draft) candidate.draft = result.draft
      return
    }
    candidate.parsed = result.parsed
    if (outcome.packed) candidate.packed = outcome.packed
    this.rows += rowsOf(candidate)
    // Described, then held packed until written: a large study's logs all wait here (issue 11: 10,000 logs under
    // 500 MB), so the log keeps only what the checks before writing read (kind, participant, knee, layout, study).
    candidate.references = packValue(await this.describeReferences(candidate, result.parsed))
    result.parsed.references = []
  }

  /**
   * This path's bytes were imported once, but the database's rows for it now come from other bytes (the workbook was
   * edited, imported, then put back): it is read again so the rows follow the file. A path never imported (a copy of
   * imported bytes elsewhere) stays skipped, and so does an unchanged re-run (the recorded hash is the file's).
   */
  private revertedSince(catalog: FileCatalog, workbook: FileRecord): boolean {
    const recorded = catalog.recordedSha256(workbook.rel_path)
    return recorded !== null && recorded !== workbook.sha256
  }

  /** A workbook exceljs could not read (or a sheet over the limits): skipped when not named like a log, else rejected. */
  private rejectUnreadable(candidate: Candidate, error: {message: string; sheet: string | null}): void {
    const absolute = candidate.catalog.resolveInside(candidate.file)
    if (!looksLikeLogName(candidate.file) && error.sheet === null) {
      this.skip(absolute, 'not a readable workbook, and not named like a processing log', true)
      return
    }
    if (error.sheet !== null) {
      this.rejectWorkbook(candidate, [
        {...workbookProblem(candidate.shown, 'SHEET_TOO_LARGE', error.message), sheet: error.sheet},
      ])
      return
    }
    this.rejectWorkbook(candidate, [
      workbookProblem(
        candidate.shown,
        'WORKBOOK_UNREADABLE',
        `${error.message}; expected an Excel workbook written by the processing pipeline`,
      ),
    ])
  }

  private async describeReferences(candidate: Candidate, parsed: ParsedLog): Promise<FileRecord[]> {
    const {catalog, file} = candidate
    const index = this.indexes.get(candidate.root)!
    const maneuverDir = path.posix.dirname(file)
    const references = await mapConcurrent(parsed.references, 4, async (ref) => {
      const resolved = resolveReference(ref.value, maneuverDir, index, ref.defaultDir)
      try {
        return await catalog.describe(resolved.relPath, ref.kind, {probe: false})
      } catch (error) {
        // A referenced file that cannot be read (a link out of the tree, no permission) is noted, not fatal.
        this.session.warn({
          file: candidate.shown,
          code: 'REFERENCE_UNREADABLE',
          message: `${resolved.relPath}: ${(error as Error).message}`,
        })
        return null
      }
    })
    return references.filter((r): r is FileRecord => r !== null)
  }

  /** Between reading and writing: duplicates, ambiguous layouts (from the run and the database), studies. */
  async settle(candidates: Candidate[]): Promise<Candidate[]> {
    rejectDuplicateLogs(
      candidates,
      (c, problems) => this.rejectWorkbook(c, problems),
      (absolute, reason, counted) => this.skip(absolute, reason, counted),
    )
    const parsed = candidates.filter((c) => c.parsed)
    settleAmbiguousVersions(parsed, await storedManeuverVersions(this.session.db, parsed))
    await resolveStudies(this.session.db, parsed, this.props.study ?? null, (c, problem) => {
      this.rejectWorkbook(c, [problem])
      c.parsed = undefined
    })
    const toWrite = parsed.filter((c) => c.parsed)
    await this.checkStudiesOfRejected(candidates, toWrite)
    return toWrite
  }

  /**
   * The study problems of workbooks already rejected for their cells (an unknown study beside a missing column), by
   * the same rules as for the others, added to their rejection: every problem of a workbook in one run.
   */
  private async checkStudiesOfRejected(candidates: Candidate[], accepted: Candidate[]): Promise<void> {
    const drafts = new Map<Candidate, Candidate>()
    for (const c of candidates) {
      if (c.draft && c.draft.participantNumber !== null) drafts.set({...c, parsed: c.draft}, c)
    }
    if (drafts.size === 0) return
    await resolveStudies(
      this.session.db,
      [...accepted, ...drafts.keys()],
      this.props.study ?? null,
      (c, problem) => {
        const rejected = drafts.get(c)
        if (rejected) this.addProblems(rejected, [problem])
      },
    )
  }

  /**
   * Phase 2: write, many workbooks per transaction and per statement. Batches grow from one workbook (so the first
   * commit and the progress line come at once) to `batchWorkbooks`; two are written at once, one building its rows
   * while the server runs the other's statements.
   */
  async writeAll(toWrite: Candidate[]): Promise<void> {
    let written = 0
    // Workbooks read before a --max-errors stop are still written; a refusal while writing can stop the rest.
    const rejectedBeforeWriting = this.session.files.rejected
    const stopHere = (candidate: Candidate) => {
      if (this.session.stopping) return true
      if (this.maxErrorsReached() && this.session.files.rejected > rejectedBeforeWriting) {
        this.stop(candidate.shown)
        return true
      }
      return false
    }
    await mapConcurrent(
      batchesOf(toWrite, this.props.batchWorkbooks ?? 64),
      Math.min(this.jobs, 2),
      async (batch) => {
        if (stopHere(batch[0]!)) return
        try {
          await this.writeBatch(batch, stopHere)
        } finally {
          written += batch.length
          this.progress('write', written, toWrite.length)
        }
      },
    )
  }

  /** One transaction for the whole batch; when the database refuses it, each workbook on its own. */
  private async writeBatch(batch: Candidate[], stopHere: (c: Candidate) => boolean): Promise<void> {
    if (batch.length > 1) {
      try {
        const results = await this.session.unit((ctx) =>
          writeLogBatch(
            ctx,
            batch.map((c) => toBatchedLog(c, this.props.force)),
          ),
        )
        for (const result of results) this.countWritten(result)
        for (const candidate of batch) releaseRecords(candidate.parsed!)
        return
      } catch (error) {
        if (!isRefusal(error) && !(error instanceof BatchSplitError)) throw error
      }
    }
    for (const candidate of batch) {
      if (stopHere(candidate)) return
      await this.writeCandidate(candidate)
    }
  }

  private countWritten(result: WriteLogResult): void {
    this.participants.add(result.participantId)
    if (result.changed) this.session.files.imported++
    else this.session.files.unchanged++
  }

  private async writeCandidate(candidate: Candidate): Promise<void> {
    try {
      this.countWritten(
        await this.session.unit((ctx) => writeLog({ctx, ...toBatchedLog(candidate, this.props.force)})),
      )
      releaseRecords(candidate.parsed!)
    } catch (error) {
      // Data the schema refuses (a CHECK, a range) rejects this workbook; anything else is a bug or an outage.
      if (error instanceof StaleLogError) {
        this.rejectWorkbook(candidate, [
          {
            ...workbookProblem(candidate.shown, error.code, error.message),
            sheet: 'Summary',
            row: 2,
            column: 'Log Updated',
          },
        ])
        return
      }
      if (!isRefusal(error)) throw error
      this.rejectWorkbook(candidate, [
        workbookProblem(
          candidate.shown,
          'WRITE_REFUSED',
          `the database refused the workbook: ${(error as Error).message}`,
        ),
      ])
    }
  }

  /**
   * A log skipped as unchanged whose stored layout is an ambiguous one older than the maneuver logs now stored beside
   * it (its siblings were imported after it) is read again, so import order never decides its layout (issue 9
   * item 4): one run or several give the same format_version and content hash.
   */
  async revisitAmbiguousLogs(candidates: Candidate[]): Promise<void> {
    const unchanged = candidates.filter((c) => this.unchanged.has(c) && c.workbook?.id)
    if (unchanged.length === 0 || this.stopped) return
    const ids = await ambiguousStoredLogs(
      this.session.db,
      unchanged.map((c) => c.workbook!.id),
    )
    const again = unchanged.filter((c) => ids.has(c.workbook!.id))
    if (again.length === 0) return
    for (const c of again) {
      this.unchanged.delete(c)
      this.session.files.unchanged--
      this.session.files.seen--
    }
    await this.readAll(again, new Set())
    await this.writeAll(await this.settle(again))
  }

  async warnKneeLogDisagreements(): Promise<void> {
    for (const d of await findKneeLogDisagreements(this.session.db, [...this.participants])) {
      this.session.warn({
        file: d.file ?? '(knee log)',
        code: 'KNEE_LOG_MISMATCH',
        message: `knee log says ${d.column} = ${String(d.kneeLog)} for ${d.knee} ${d.maneuver}, the maneuver log says ${String(d.maneuverLog)}`,
      })
    }
  }

  private skip(absolute: string, reason: string, counted = false): void {
    if (!counted) this.session.files.seen++
    this.session.files.skipped++
    this.session.warn({file: absolute, code: 'SKIPPED', message: `skipped: ${reason}`})
  }

  /** A folder that cannot be listed: its logs (if any) are not imported, which the run must not hide. */
  private rejectUnreadableFolder(root: string, denied: {folder: string; reason: string}): void {
    const problem = workbookProblem(
      denied.folder,
      'FOLDER_UNREADABLE',
      `${path.join(root, denied.folder)} cannot be read (${denied.reason}); the logs in it were not imported — give aedb read access and run again`,
    )
    this.session.files.rejected++
    this.session.reject(problem)
    this.rejectedRows.push({...problem, original: null})
  }

  /** False when --max-errors was reached first: then the workbook is left for the next run. */
  private rejectWorkbook(candidate: Candidate, problems: Rejection[]): boolean {
    // Workbooks read in parallel can fail after the limit was reached: they are left, like those not started,
    // for the next run, so --max-errors N rejects exactly N whatever --jobs is.
    if (this.maxErrorsReached()) {
      this.session.files.seen--
      this.stop(candidate.shown)
      return false
    }
    this.session.files.rejected++
    this.addProblems(candidate, problems)
    return true
  }

  /** More problems of a workbook already rejected (and counted). */
  private addProblems(candidate: Candidate, problems: Rejection[]): void {
    for (const problem of problems) {
      this.session.reject(problem)
      const original =
        problem.sheet && problem.row && candidate.rawRows
          ? originalRow(candidate.rawRows, problem.sheet, problem.row)
          : undefined
      this.rejectedRows.push({...problem, original: original ?? null})
    }
  }

  private maxErrorsReached(): boolean {
    return this.props.maxErrors !== undefined && this.session.files.rejected >= this.props.maxErrors
  }

  private stop(file: string): void {
    if (this.stopped) return
    this.stopped = true
    this.session.warn({
      file,
      code: 'MAX_ERRORS',
      message: `stopped after ${this.session.files.rejected} rejected workbook(s) (--max-errors ${this.props.maxErrors}); the workbooks after it were not imported`,
    })
  }

  private progress(phase: BackfillProgress['phase'], done: number, total: number): void {
    this.props.onProgress?.({phase, done, total, rows: this.rows, bytesHashed: this.bytesHashed})
  }
}

/** Data the schema refuses (a CHECK, a range), or a newer edition already stored: the workbook's fault, not an outage. */
function isRefusal(error: unknown): boolean {
  return error instanceof StaleLogError || /^(22|23|54)/.test(pgCode(error) ?? '')
}

function toBatchedLog(candidate: Candidate, restoreEdited = false): BatchedLog {
  if (candidate.packed) {
    unpackRecords(candidate.parsed!, candidate.packed)
    delete candidate.packed
  }
  return {
    parsed: candidate.parsed!,
    study: candidate.study!,
    participantNumber: candidate.participantNumber!,
    root: candidate.root,
    workbook: candidate.workbook!,
    references: candidate.references ? unpackValue<FileRecord[]>(candidate.references) : [],
    ...(restoreEdited ? {restoreEdited} : {}),
  }
}

/** Batches of 1, 2, 4, ... workbooks up to `largest`, and never more than about 4,000 rows. */
function batchesOf(candidates: Candidate[], largest: number): Candidate[][] {
  const batches: Candidate[][] = []
  let size = 1
  let batch: Candidate[] = []
  let rows = 0
  for (const c of candidates) {
    batch.push(c)
    rows += rowsOf(c)
    if (batch.length >= size || rows >= 4000) {
      batches.push(batch)
      batch = []
      rows = 0
      size = Math.min(Math.max(1, largest), size * 2)
    }
  }
  if (batch.length > 0) batches.push(batch)
  return batches
}

function workbookProblem(file: string, code: string, message: string): Rejection {
  return {file, sheet: null, row: null, column: null, code, message}
}

/** Rows a parsed workbook writes, from its packed facts while its records are packed. */
function rowsOf(candidate: Candidate): number {
  return candidate.packed?.rows ?? countRecords(candidate.parsed!)
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
        skip(path.join(c.root, c.file), `same bytes as ${first!.shown}, imported once`, true)
      }
      continue
    }
    const files = group.map((c) => c.shown).join(', ')
    for (const c of group) {
      reject(c, [
        {
          file: c.shown,
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

/** `participant number|knee` → the newest layout of the maneuver logs stored for it. */
async function storedManeuverVersions(
  db: Kysely<Database>,
  candidates: Candidate[],
): Promise<Map<string, FormatVersion>> {
  const numbers = [
    ...new Set(candidates.map((c) => c.parsed!.participantNumber).filter((n): n is number => n !== null)),
  ]
  const stored = new Map<string, FormatVersion>()
  if (numbers.length === 0) return stored
  const {rows} = await sql<{participant_number: number; knee: string; format_version: FormatVersion}>`
    select distinct p.participant_number, pl.knee, pl.format_version
    from processing_logs pl join participants p on p.id = pl.participant_id
    where p.participant_number = any(${`{${numbers.join(',')}}`}::int[])`.execute(db)
  for (const r of rows) newest(stored, `${r.participant_number}|${r.knee}`, r.format_version)
  return stored
}

function newest(map: Map<string, FormatVersion>, key: string, version: FormatVersion): void {
  const current = map.get(key)
  if (!current || ORDER.indexOf(version) > ORDER.indexOf(current)) map.set(key, version)
}

/**
 * A log whose distinguishing sheets are placeholders (v2 and v3 differ only in Movement Cycles / Cycle Details;
 * knee logs did not change from v2 to v4) is given the layout of the maneuver logs of the same participant and
 * knee when theirs is later: those read in this run, and those already in the database, so that the order in which
 * a participant's logs are imported never changes the result.
 */
function settleAmbiguousVersions(candidates: Candidate[], stored: Map<string, FormatVersion>): void {
  const newestByKnee = new Map(stored)
  const kneeKey = (c: Candidate) => `${c.parsed!.participantNumber}|${c.parsed!.knee}`
  for (const c of candidates) {
    if (c.parsed!.kind === 'maneuver' && c.parsed!.participantNumber !== null)
      newest(newestByKnee, kneeKey(c), c.parsed!.version)
  }
  for (const c of candidates) {
    const sibling = newestByKnee.get(kneeKey(c))
    const p = c.parsed!
    if (!sibling) continue
    if (
      p.kind === 'maneuver' &&
      p.version === 'v2' &&
      sibling === 'v3' &&
      (c.packed?.summaries ?? p.summaries.length) === 0 &&
      (c.packed?.cycles ?? p.cycles.length) === 0
    )
      p.version = 'v3'
    if (
      p.kind === 'knee' &&
      p.version !== 'v5' &&
      sibling !== 'v5' &&
      ORDER.indexOf(sibling) > ORDER.indexOf(p.version)
    ) {
      const hasModernColumns = c.packed?.modernManeuvers ?? hasModernManeuvers(p.maneuvers)
      if (p.version === 'v2' || !hasModernColumns) p.version = sibling
    }
  }
}

/**
 * Of these workbook files, those stored as a log whose layout is an ambiguous one older than the newest maneuver log
 * of the same participant and knee (so that reading them again may settle a later layout).
 */
async function ambiguousStoredLogs(db: Kysely<Database>, fileIds: readonly string[]): Promise<Set<string>> {
  const {rows} = await sql<{source_file_id: string}>`
    with newest as (
      select participant_id, knee, max(array_position(array['v1','v2','v3','v4','v5'], format_version)) as rank
      from processing_logs group by participant_id, knee)
    select kl.source_file_id from knee_logs kl join newest n using (participant_id, knee)
    where kl.source_file_id = any(${`{${fileIds.join(',')}}`}::uuid[])
      and kl.format_version in ('v2', 'v3') and n.rank between 3 and 4
      and n.rank > array_position(array['v1','v2','v3','v4','v5'], kl.format_version)
    union
    select pl.source_file_id from processing_logs pl join newest n using (participant_id, knee)
    where pl.source_file_id = any(${`{${fileIds.join(',')}}`}::uuid[])
      and pl.format_version = 'v2' and n.rank = 3
      and not exists (select 1 from movement_cycles m where m.processing_log_id = pl.id)
      and not exists (select 1 from cycle_extraction_summaries s where s.processing_log_id = pl.id)`.execute(
    db,
  )
  return new Set(rows.map((r) => r.source_file_id))
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
      file: c.shown,
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
