import {availableParallelism} from 'node:os'
import path from 'node:path'
import {type Kysely, sql} from 'kysely'
import type {Database} from '../db/schema.js'
import {toArrayLiteral, upsertRows} from '../db/upsert-rows.js'
import {
  createFileProber,
  type FileProber,
  HASH,
  newProbeBatch,
  type ProbeBatch,
  type ProbeReply,
  type ProbeResult,
  probeResultAt,
  REHASH,
  STATUS_FILE,
  setKnown,
  setProbe,
} from '../files/file-prober.js'
import {createStatProber} from '../files/stat-prober.js'
import {
  absoluteAt,
  type FilePage,
  type FileToCheck,
  fileAt,
  hasHashAt,
  hashIsAt,
  hashKnownAt,
  idAt,
  isPresentAt,
  type PageRoots,
  readFilePage,
  readHashes,
  UnknownRootError,
} from './file-page.js'
import {findMovedFile, type MovedFileIndex} from './find-moved-file.js'
import {type CheckFinding, shellQuote} from './finding.js'
import {mapRoot, type RootMapping} from './root-map.js'

export interface CheckFilesProps {
  db: Kysely<Database>
  runId: string
  /** Non-source files (`files` check) and workbooks / metadata.json that were imported (`sources` check). */
  include: {files: boolean; sources: boolean}
  rehash: boolean
  rootMap: readonly RootMapping[]
  /** Threads that stat and hash. */
  jobs: number
  /** Stop starting new files at this instant (ms since the epoch); null: check them all. */
  deadline: number | null
  /** Continue a pass after this file id (files are checked in id order); null: from the first file. */
  after: string | null
  /** Files read from the database at a time (default PAGE_ROWS; tests make pages small to cross many). */
  pageRows?: number
  onProgress?: (p: {done: number; total: number; bytesHashed: number}) => void
}

export interface CheckFilesResult {
  findings: CheckFinding[]
  /** Files checked by this run: every file in scope after `after` up to `lastId`, in id order. */
  checked: number
  /** The last file checked: the findings of the files checked (after `after`, up to it) can be resolved. */
  lastId: string | null
  /**
   * The run checked every file up to the end of the id order (it read a last page, not stopped by its deadline):
   * the pass is complete. Not `checked >= due`: files an import adds while the run goes make `due` too small.
   */
  reachedEnd: boolean
  /** Files in scope after `after` (due in this run), and in the whole database. */
  due: number
  total: number
  bytesHashed: number
}

/** What a file looks like now; written to verify_files only where it differs from what was imported. */
interface Seen {
  present: boolean
  size_bytes: number | null
  mtime_ms: number | null
  sha256: string | null
}

/** Files read from the database per step: memory stays at one page whatever the archive's size. */
const PAGE_ROWS = 5000
/** The first page is smaller: nothing is stat'ed before it arrives, and 1,000 files come back in a fifth of the time. */
const FIRST_PAGE_ROWS = 1000
/**
 * A batch handed to one thread: small enough that a deadline is kept, large enough to amortise the hand-over. The
 * first batches are small (a run stops at a batch's end, so a short --time-limit checks few files) and each is
 * twice the last up to the largest (the hand-overs of 1,024-file batches cost the main thread a quarter of 256's).
 */
const FIRST_BATCH_FILES = 32
const MAX_BATCH_FILES = 1024
const BATCH_BYTES = 64 * 1024 * 1024

interface CheckContext {
  /** Files in the next batch: doubles from FIRST_BATCH_FILES to MAX_BATCH_FILES. */
  batchFiles: number
  /** Ids of files with an open FILE_UNREADABLE finding: read again whatever their size and mtime. */
  unreadable: ReadonlySet<string>
  props: CheckFilesProps
  prober: FileProber
  moved: MovedFileIndex
  result: CheckFilesResult
  /** Set when a batch failed: no more batches are handed out, and the failure surfaces at the end. */
  failed: boolean
  stopped: () => boolean
  onBytes: (bytes: number) => void
}

/**
 * Every recorded file against the disk, in id order from where the last limited run stopped: stat, and the
 * SHA-256 recomputed where size or mtime changed (or always with rehash). Batches are stat'ed (on this thread, for
 * stat-only passes) and hashed (on worker threads) while the next page is read; a deadline stops handing out batches, so the files checked are always a prefix of the order
 * and the next run continues after the last one. What a file looked like is remembered in verify_files only when
 * it differs from the import (a change found once by --rehash is found again; a touched, unchanged file is hashed
 * once), so a clean archive costs no writes at all.
 */
/**
 * Threads for the pass: --jobs when every file is hashed; for stat-only passes (stat'ed on this thread, see
 * createStatProber) no more than the cores, for the files whose size or mtime changed.
 */
function proberThreads(props: CheckFilesProps): number {
  return props.rehash ? props.jobs : Math.min(props.jobs, availableParallelism())
}

export async function checkFiles(props: CheckFilesProps): Promise<CheckFilesResult> {
  const result: CheckFilesResult = {
    findings: [],
    checked: 0,
    lastId: null,
    reachedEnd: false,
    due: 0,
    total: 0,
    bytesHashed: 0,
  }
  const prober = props.rehash ? createFileProber(props.jobs) : createStatProber(proberThreads(props))
  const context: CheckContext = {
    batchFiles: FIRST_BATCH_FILES,
    unreadable: await openUnreadable(props.db),
    props,
    prober,
    moved: new Map(),
    result,
    failed: false,
    stopped: () =>
      context.failed || (props.deadline !== null && Date.now() >= props.deadline && result.checked > 0),
    onBytes: (bytes) => {
      result.bytesHashed += bytes
    },
  }
  try {
    const roots = {current: await readRoots(props)}
    const first = quietly(readPage(props, roots, props.after, FIRST_PAGE_ROWS))
    // The counts (for the report, the coverage and the progress line) are read while the first page is checked.
    const counting = quietly(countInScope(props))
    await checkPages(context, roots, first)
    Object.assign(result, await counting)
  } finally {
    await prober.close()
  }
  return result
}

/**
 * Page after page, the threads kept busy across pages: a page's batches are handed out as threads come free, while
 * the next page is read and the earlier pages' last batches finish; each page's state is written once all its
 * batches are judged, in page order.
 */
async function checkPages(
  context: CheckContext,
  roots: {current: PageRoots},
  first: Promise<FilePage>,
): Promise<void> {
  const {props} = context
  let next = first
  let writing: Promise<void> = Promise.resolve()
  while (!context.stopped()) {
    const page = await next
    if (page.length === 0) {
      context.result.reachedEnd = true
      break
    }
    next = quietly(readPage(props, roots, idAt(page, page.length - 1)))
    const {handedOut, checked} = await handOutPage(page, context)
    const written = writing
    writing = quietly(
      checked.then(async (files) => {
        await written
        await writeSeen(props, files)
      }),
    )
    if (handedOut < page.length) break
    if (page.last) {
      context.result.reachedEnd = true
      break
    }
  }
  await writing
  await next.catch(() => undefined)
}

/** A started promise whose failure surfaces where it is awaited, never as an unhandled rejection. */
function quietly<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {})
  return promise
}

interface Checked {
  file: FileToCheck
  seen: Seen
}

/**
 * The page's files in batches on free threads until the deadline. Returns how many were handed out (a prefix of
 * the page) and, once they are judged, those that need a look at verify_files: every file that is not exactly as
 * imported and not remembered (the common case, judged off the page's columns without an object per file).
 */
async function handOutPage(
  page: FilePage,
  context: CheckContext,
): Promise<{handedOut: number; checked: Promise<Checked[]>}> {
  const pending: Array<Promise<Checked[]>> = []
  let handedOut = 0
  for (const [start, end] of batches(page, context)) {
    const worker = await context.prober.acquire()
    if (context.stopped()) {
      context.prober.release(worker)
      break
    }
    context.result.checked += end - start
    handedOut = end
    context.result.lastId = idAt(page, end - 1)
    const probing = context.prober.probe(worker, probeBatch(page, start, end, context))
    const judging = probing.then((reply) => judgeBatch(page, start, reply, context))
    judging.catch(() => {
      context.failed = true
    })
    pending.push(judging)
  }
  return {handedOut, checked: Promise.all(pending).then((judged) => judged.flat())}
}

/** The page cut into batches, as [start, end) positions. */
function* batches(page: FilePage, context: CheckContext): Generator<[number, number]> {
  let start = 0
  let bytes = 0
  for (let i = 0; i < page.length; i++) {
    bytes += page.sizes[i] ?? 0
    if (i + 1 - start >= context.batchFiles || bytes >= BATCH_BYTES) {
      context.batchFiles = Math.min(MAX_BATCH_FILES, 2 * context.batchFiles)
      yield [start, i + 1]
      start = i + 1
      bytes = 0
    }
  }
  if (start < page.length) yield [start, page.length]
}

/**
 * Stat every file; hash one present at import and hashed then, unless its size and mtime are those of a known
 * hash (the import's, or the last verify's), or always with --rehash.
 */
function probeBatch(page: FilePage, start: number, end: number, context: CheckContext): ProbeBatch {
  const {props, unreadable} = context
  const paths = new Array<string>(end - start)
  for (let i = start; i < end; i++) paths[i - start] = absoluteAt(page, i)
  const probes = newProbeBatch(paths)
  for (let i = start; i < end; i++) {
    const at = i - start
    // A file found unreadable before is read again (a plain run reads no file whose size and mtime are unchanged),
    // so its finding is resolved only by a run that could read it.
    const reread = props.rehash || (unreadable.size > 0 && unreadable.has(idAt(page, i)))
    setProbe(probes, at, (isPresentAt(page, i) && hasHashAt(page, i) ? HASH : 0) | (reread ? REHASH : 0))
    const size = page.sizes[i]!
    const mtime = page.mtimes[i]!
    let slot: 0 | 1 = 0
    if (size !== null && mtime !== null) {
      setKnown(probes, at, 0, size, mtime)
      slot = 1
    }
    const seen = page.seen.size > 0 ? page.seen.get(i) : undefined
    if (seen?.[3] && seen[1] !== null && seen[2] !== null) setKnown(probes, at, slot, seen[1], seen[2])
  }
  return probes
}

/** The findings of the batch that starts at `start`; returns the files whose state verify_files must record or forget. */
async function judgeBatch(
  page: FilePage,
  start: number,
  reply: ProbeReply,
  context: CheckContext,
): Promise<Checked[]> {
  const checked: Checked[] = []
  const count = reply.hashes.length
  const look: number[] = []
  for (let at = 0; at < count; at++) {
    const bytes = reply.numbers[4 * at + 3]!
    if (bytes > 0) context.onBytes(bytes)
    if (!asImported(page, start + at, reply, at)) look.push(start + at)
  }
  if (look.length > 0) await readHashes(context.props.db, page, look)
  for (const i of look) {
    // Its recorded hash is gone since the page was read (an import beside this run recorded it missing): the row
    // changed under the run, and the next run judges it as it is now.
    if (hasHashAt(page, i) && !hashKnownAt(page, i)) continue
    const file = fileAt(page, i)
    const judged = judge(file, probeResultAt(reply, i - start), context)
    // Only a missing file needs a wait (the search for where it moved); the rest is judged without one.
    const outcome = judged instanceof Promise ? await judged : judged
    for (const finding of outcome.findings) context.result.findings.push(finding)
    checked.push({file, seen: outcome.seen})
  }
  context.props.onProgress?.({
    done: context.result.checked,
    total: context.result.due,
    bytesHashed: context.result.bytesHashed,
  })
  return checked
}

/**
 * The nightly common case, read straight off the thread's reply and the page: a regular file present at import
 * with the size and mtime it had then, not hashed or hashed to the imported hash, and nothing remembered by an
 * earlier verify. Such a file has no finding and nothing to record (judge would say the same, object by object).
 */
function asImported(page: FilePage, i: number, reply: ProbeReply, at: number): boolean {
  const hash = reply.hashes[at]
  return (
    isPresentAt(page, i) &&
    (page.seen.size === 0 || !page.seen.has(i)) &&
    reply.numbers[4 * at] === STATUS_FILE &&
    reply.numbers[4 * at + 1] === page.sizes[i] &&
    reply.numbers[4 * at + 2] === page.mtimes[i] &&
    (hash === null || hash === undefined || (hashKnownAt(page, i) && hashIsAt(page, i, hash)))
  )
}

interface Outcome {
  findings: CheckFinding[]
  seen: Seen
}

type MakeFinding = (code: string, severity: CheckFinding['severity'], message: string) => CheckFinding

const ABSENT: Seen = {present: false, size_bytes: null, mtime_ms: null, sha256: null}

/** One file's findings from what the thread found. */
function judge(file: FileToCheck, probed: ProbeResult, context: CheckContext): Outcome | Promise<Outcome> {
  const {mappedRoot: root, absolute} = file
  const finding: MakeFinding = (code, severity, message) => ({
    check: file.importer ? 'sources' : 'files',
    code,
    severity,
    table: 'files',
    id: file.id,
    path: absolute,
    message,
  })
  if (!probed.ok) return checkAbsent(file, {root, absolute, error: probed, finding, context})
  // A regular file at import with something else at its path now (a folder, a device): the file is gone.
  if (!probed.isFile && file.size_bytes !== null) {
    const error = {code: 'ENOENT', message: 'not a regular file'}
    return checkAbsent(file, {root, absolute, error, finding, context, notAFile: true})
  }
  const seen: Seen = {
    present: true,
    size_bytes: probed.isFile ? probed.size : null,
    mtime_ms: probed.mtimeMs,
    sha256: null,
  }
  if (!file.present) return appeared(file, seen, {root, absolute, finding, context})
  if (!probed.isFile || file.sha256 === null) return {findings: [], seen}
  if (probed.readError) {
    return {findings: [finding('FILE_UNREADABLE', 'error', unreadable(absolute, probed.readError))], seen}
  }
  seen.sha256 = probed.sha256 ?? knownHash(file, probed)
  if (seen.sha256 === file.sha256) return {findings: [], seen}
  const now = {size: probed.size, sha256: seen.sha256}
  return {findings: [changed(file, {root, absolute, now, finding})], seen}
}

/** Kinds of file only import-json records (stems, source audio, waveforms, its own inputs); the rest are Excel's. */
const JSON_TREE_KINDS: ReadonlySet<string> = new Set([
  'audio',
  'waveform',
  'metadata_json',
  'config',
  'hash_index',
])

/**
 * A file missing at import that exists now (rare): the re-import that picks it up, by the importer of the file
 * (a source's own, or the one that records files of its kind).
 */
async function appeared(
  file: FileToCheck,
  seen: Seen,
  at: {root: string; absolute: string; finding: MakeFinding; context: CheckContext},
): Promise<Outcome> {
  let importer = file.importer
  if (importer === null) {
    const row = await at.context.props.db
      .selectFrom('files')
      .select('kind')
      .where('id', '=', file.id)
      .executeTakeFirst()
    importer = row && JSON_TREE_KINDS.has(row.kind) ? 'json' : 'excel'
  }
  const reimport =
    importer === 'json'
      ? `the tree with aedb import-json ${shellQuote(at.root)}`
      : // The log's bytes did not change, so a plain re-import would skip it: --force reads it again.
        `the log that references it with aedb backfill-excel --force <that log.xlsx>, or every log of its tree with aedb backfill-excel --force ${shellQuote(at.root)}`
  const message = `${at.absolute} was missing when it was imported and exists now. Re-import ${reimport} to pick it up.`
  return {findings: [at.finding('FILE_APPEARED', 'warning', message)], seen}
}

/** The hash remembered for the size and mtime the file has now (the last verify's, else the import's). */
function knownHash(file: FileToCheck, probed: {size: number; mtimeMs: number}): string {
  const same = (size: number | null, mtime: number | null) => size === probed.size && mtime === probed.mtimeMs
  if (file.seen_sha256 && same(file.seen_size, file.seen_mtime_ms)) return file.seen_sha256
  return file.sha256!
}

/** A file stat could not find or read: unreadable, absent since import, moved under its root, or missing. */
async function checkAbsent(
  file: FileToCheck,
  at: {
    root: string
    absolute: string
    error: {code: string; message: string}
    finding: MakeFinding
    context: CheckContext
    /** Something that is not a regular file (a folder) is at the path. */
    notAFile?: boolean
  },
): Promise<Outcome> {
  const {root, absolute, finding} = at
  if (at.error.code !== 'ENOENT' && at.error.code !== 'ENOTDIR') {
    return {findings: [finding('FILE_UNREADABLE', 'error', unreadable(absolute, at.error))], seen: ABSENT}
  }
  if (!file.present) {
    const message = `${absolute} was already missing when it was imported and still is. Nothing changed; restore it and re-import if it should exist (for a file an Excel log references: aedb backfill-excel --force on that log, since a plain re-import skips a log whose bytes were imported).`
    return {findings: [finding('FILE_ABSENT_AT_IMPORT', 'warning', message)], seen: ABSENT}
  }
  const copies = file.sha256
    ? await recordedCopies(at.context.props.db, file.root, file.sha256)
    : new Set<string>()
  const movedTo = file.sha256
    ? await findMovedFile(at.context.moved, root, file, at.context.onBytes, copies)
    : null
  if (movedTo) {
    const message = `${absolute} is gone but its bytes (sha256 ${file.sha256!.slice(0, 12)}…) are now at ${path.join(root, movedTo)}. Move it back to where it was imported from (a re-import records the new path as another file and leaves this one missing).`
    return {findings: [finding('FILE_MOVED', 'error', message)], seen: ABSENT}
  }
  const rootHint =
    at.context.props.rootMap.length === 0 ? ', or pass --root-map OLD=NEW if the tree moved' : ''
  const replaced = at.notAFile
    ? ' (what is at its path now is not a regular file: a folder, a device or a socket)'
    : ''
  const message = `${absolute} was present at import (${file.size_bytes ?? '?'} bytes) and is gone${replaced}. Restore it from backup${rootHint}.`
  return {findings: [finding('FILE_MISSING', 'error', message)], seen: ABSENT}
}

/** The ids of files with an open FILE_UNREADABLE finding (few: none on a healthy archive). */
async function openUnreadable(db: Kysely<Database>): Promise<Set<string>> {
  const rows = await db
    .selectFrom('verify_findings')
    .select('row_id')
    .where('code', '=', 'FILE_UNREADABLE')
    .where('resolved_at', 'is', null)
    .execute()
  return new Set(rows.flatMap((r) => (r.row_id === null ? [] : [String(r.row_id).toLowerCase()])))
}

/** Paths (relative to the import root at `root`) of other files recorded present at import with these bytes. */
async function recordedCopies(db: Kysely<Database>, root: string, sha256: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('files as f')
    .innerJoin('import_roots as r', 'r.id', 'f.root_id')
    .select('f.rel_path')
    .where('r.path', '=', root)
    .where('f.sha256', '=', sha256)
    .where('f.present', '=', true)
    .execute()
  return new Set(rows.map((r) => r.rel_path))
}

/** The scope's filter: imported sources for the `sources` check, every other file for `files`. */
function inScope(props: CheckFilesProps) {
  const {files, sources} = props.include
  const isSource = sql`exists (select 1 from source_imports si where si.file_id = f.id)`
  if (files && sources) return sql`true`
  return sources ? isSource : sql`not ${isSource}`
}

/**
 * Files in scope in the whole database (`total`) and after `after` (`due`, in this run): all files less the imported
 * sources, or the sources, or both. Index-only counts: a filter on every file row (the scope's exists) cost a scan
 * of the whole table, 0.2-0.6 s at 100,000 files.
 */
async function countInScope(props: CheckFilesProps): Promise<{total: number; due: number}> {
  const after = props.after
  const {rows} = await sql<{files: number; sources: number; files_due: number; sources_due: number}>`
    select (select count(*)::int from files) as files,
      (select count(distinct file_id)::int from source_imports) as sources,
      (select count(*)::int from files where ${after}::uuid is not null and id > ${after}::uuid) as files_due,
      (select count(distinct file_id)::int from source_imports
        where ${after}::uuid is not null and file_id > ${after}::uuid) as sources_due`.execute(props.db)
  const counts = rows[0]!
  const inScope = (files: number, sources: number) =>
    (props.include.files ? files - sources : 0) + (props.include.sources ? sources : 0)
  const total = inScope(counts.files, counts.sources)
  return {total, due: after === null ? total : inScope(counts.files_due, counts.sources_due)}
}

/** Every import root's path and where --root-map puts it: read once, not once per file. */
async function readRoots(props: CheckFilesProps): Promise<PageRoots> {
  const rows = await props.db.selectFrom('import_roots').select(['id', 'path']).orderBy('id').execute()
  return {
    ids: rows.map((r) => r.id),
    roots: rows.map((r) => ({root: r.path, mappedRoot: mapRoot(r.path, props.rootMap)})),
  }
}

/**
 * Files read from the database per step: memory stays at one page whatever the archive's size. The stored hashes
 * come with the page only when every file is hashed. An import that added a root since the roots were read (a
 * verify runs beside imports) has the roots read again.
 */
async function readPage(
  props: CheckFilesProps,
  roots: {current: PageRoots},
  after: string | null,
  rows = PAGE_ROWS,
): Promise<FilePage> {
  const read = () =>
    readFilePage({
      db: props.db,
      roots: roots.current,
      after,
      scope: inScope(props),
      sources: props.include.sources,
      hashes: props.rehash,
      limit: props.pageRows ?? rows,
    })
  try {
    return await read()
  } catch (error) {
    if (!(error instanceof UnknownRootError)) throw error
    roots.current = await readRoots(props)
    return read()
  }
}

/** Remembers what differs from the import and forgets what matches it again; writes nothing when all is clean. */
async function writeSeen(props: CheckFilesProps, checked: Checked[]): Promise<void> {
  const remember: Array<Record<string, unknown>> = []
  const forget: string[] = []
  const verifiedAt = new Date()
  for (const {file, seen} of checked) {
    const wanted = !matchesImport(file, seen)
    const had = file.seen_present !== null
    if (!wanted) {
      if (had) forget.push(file.id)
      continue
    }
    if (had && sameSeen(file, seen)) continue
    remember.push({
      file_id: file.id,
      verified_at: verifiedAt,
      run_id: props.runId,
      present: seen.present,
      size_bytes: seen.size_bytes,
      mtime: seen.mtime_ms === null ? null : new Date(seen.mtime_ms),
      sha256: seen.sha256,
    })
  }
  if (remember.length > 0) {
    await upsertRows({db: props.db, table: 'verify_files', rows: remember, conflict: ['file_id']})
  }
  if (forget.length > 0) {
    await sql`delete from verify_files where file_id = any(${toArrayLiteral(forget)}::uuid[])`.execute(
      props.db,
    )
  }
}

function matchesImport(file: FileToCheck, seen: Seen): boolean {
  if (!seen.present) return !file.present
  return (
    file.present &&
    seen.size_bytes === file.size_bytes &&
    seen.mtime_ms === file.mtime_ms &&
    (seen.sha256 === file.sha256 || seen.sha256 === null)
  )
}

function sameSeen(file: FileToCheck, seen: Seen): boolean {
  return (
    file.seen_present === seen.present &&
    file.seen_size === seen.size_bytes &&
    file.seen_mtime_ms === seen.mtime_ms &&
    file.seen_sha256 === seen.sha256
  )
}

/** A file whose bytes differ from the import: a changed source to re-import, or a changed data file. */
function changed(
  file: FileToCheck,
  at: {root: string; absolute: string; now: {size: number; sha256: string}; finding: MakeFinding},
): CheckFinding {
  const {absolute, finding} = at
  const was = `${file.size_bytes} bytes, sha256 ${file.sha256}`
  const now = `${at.now.size} bytes, sha256 ${at.now.sha256}`
  if (file.importer) {
    const reimport =
      file.importer === 'excel'
        ? `aedb backfill-excel ${shellQuote(absolute)}`
        : `aedb import-json ${shellQuote(at.root)}`
    return finding(
      'SOURCE_CHANGED',
      'warning',
      `${absolute} differs from what was imported (was ${was}; now ${now}). Re-import it: ${reimport}${file.importer === 'excel' ? ' (if a newer edition of this log has been imported since, the re-import is refused as STALE_LOG and there is nothing to do)' : ''}`,
    )
  }
  return finding(
    'FILE_CHANGED',
    'error',
    `${absolute} changed since import (was ${was}; now ${now}). Restore the original from backup, or re-import if the change is intended. A restored file whose size and mtime are those of the import is confirmed only by aedb verify --rehash.`,
  )
}

function unreadable(absolute: string, error: {code?: string; message: string}): string {
  // Node's messages start with the code already ("EACCES: permission denied, open …").
  const reason =
    error.code && !error.message.startsWith(`${error.code}:`)
      ? `${error.code}: ${error.message}`
      : error.message
  return `${absolute} cannot be read (${reason}). Fix its permissions or the disk; every verify reads it again until it can.`
}
