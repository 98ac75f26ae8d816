import type {Stats} from 'node:fs'
import {stat} from 'node:fs/promises'
import path from 'node:path'
import {type Kysely, sql} from 'kysely'
import type {Database} from '../db/schema.js'
import {toArrayLiteral, upsertRows} from '../db/upsert-rows.js'
import {createLimiter} from '../files/create-limiter.js'
import {hashFile} from '../files/hash-file.js'
import {mapConcurrent} from '../files/map-concurrent.js'
import {findMovedFile, type MovedFileIndex} from './find-moved-file.js'
import type {CheckFinding} from './finding.js'
import {mapRoot, type RootMapping} from './root-map.js'

export interface CheckFilesProps {
  db: Kysely<Database>
  runId: string
  /** Non-source files (`files` check) and workbooks / metadata.json that were imported (`sources` check). */
  include: {files: boolean; sources: boolean}
  rehash: boolean
  rootMap: readonly RootMapping[]
  jobs: number
  /** Stop starting new files at this instant (ms since the epoch); null: check them all. */
  deadline: number | null
  /** Check only files not verified since this instant (the resumed pass); null: every file. */
  notVerifiedSince: Date | null
  onProgress?: (p: {done: number; total: number; bytesHashed: number}) => void
}

export interface CheckFilesResult {
  findings: CheckFinding[]
  /** Files checked by this run (their findings can be resolved). */
  checkedIds: Set<string>
  /** Files in scope for this run, and in the whole database. */
  due: number
  total: number
  bytesHashed: number
}

interface FileToCheck {
  id: string
  root: string
  rel_path: string
  kind: string
  present: boolean
  size_bytes: number | null
  mtime: Date | null
  sha256: string | null
  importer: 'excel' | 'json' | null
  seen_size: number | null
  seen_mtime: Date | null
  seen_sha256: string | null
}

type Seen = {
  file_id: string
  verified_at: Date
  run_id: string
  present: boolean
  size_bytes: number | null
  mtime: Date | null
  sha256: string | null
}

/** Files read, checked and written back per step: memory stays at one page whatever the archive's size. */
const PAGE_ROWS = 5000
/**
 * stat and small reads are cheap and latency-bound (a thread-pool round trip, a network mount), so many are in
 * flight; files above SMALL_FILE_BYTES are held to --jobs at a time, which bounds their buffers and disk seeks.
 * Holding 8 KiB files to 4 at a time made --rehash wait on round trips (0.06x openssl).
 */
const STAT_CONCURRENCY = 64
const SMALL_FILE_BYTES = 1024 * 1024

interface CheckContext {
  props: CheckFilesProps
  moved: MovedFileIndex
  hashSlot: <T>(task: () => Promise<T>) => Promise<T>
  onBytes: (bytes: number) => void
}

/**
 * Every recorded file against the disk, oldest-verified first: stat, and the SHA-256 recomputed where size or
 * mtime changed (or always with rehash). What each file looked like is remembered in verify_files, so a change
 * found once by --rehash is found again by the next plain run, and a touched but unchanged file is hashed once.
 * Only the ordered ids of the files due are held; their rows are read, checked and written a page at a time,
 * each page's write overlapping the next page's checks.
 */
export async function checkFiles(props: CheckFilesProps): Promise<CheckFilesResult> {
  const {dueIds, total} = await readDueIds(props)
  const findings: CheckFinding[] = []
  const checkedIds = new Set<string>()
  let bytesHashed = 0
  let done = 0
  const context: CheckContext = {
    props,
    moved: new Map(),
    hashSlot: createLimiter(Math.max(1, props.jobs)),
    onBytes: (bytes) => {
      bytesHashed += bytes
    },
  }
  const stopped = () => props.deadline !== null && Date.now() >= props.deadline && checkedIds.size > 0
  let writing: Promise<void> = Promise.resolve()
  for (let start = 0; start < dueIds.length && !stopped(); start += PAGE_ROWS) {
    const page = await readPage(props.db, dueIds.slice(start, start + PAGE_ROWS))
    const seen: Seen[] = []
    await mapConcurrent(page, STAT_CONCURRENCY, async (file) => {
      if (stopped()) return
      checkedIds.add(file.id)
      const outcome = await checkOne(file, context)
      findings.push(...outcome.findings)
      seen.push({...outcome.seen, file_id: file.id, verified_at: new Date(), run_id: props.runId})
      done++
      props.onProgress?.({done, total: dueIds.length, bytesHashed})
    })
    await writing
    writing = writeSeen(props.db, seen)
  }
  await writing
  return {findings, checkedIds, due: dueIds.length, total, bytesHashed}
}

/** Starts the page's write; a failure surfaces where it is awaited, never as an unhandled rejection. */
function writeSeen(db: Kysely<Database>, rows: Seen[]): Promise<void> {
  if (rows.length === 0) return Promise.resolve()
  const written = upsertRows({db, table: 'verify_files', rows, conflict: ['file_id']}).then(() => undefined)
  written.catch(() => {})
  return written
}

/**
 * The ids of the files in scope, oldest-verified first, and those due in this pass. One narrow query: the rows
 * themselves are read a page at a time. JIT is off for it: compiling cost PostgreSQL ~0.5 s on this short scan.
 */
async function readDueIds(props: CheckFilesProps): Promise<{dueIds: string[]; total: number}> {
  const since = props.notVerifiedSince?.toISOString() ?? null
  const rows = await props.db.transaction().execute(async (trx) => {
    await sql`set local jit = off`.execute(trx)
    const {rows} = await sql<{id: string; due: boolean}>`
      select f.id, (${since}::timestamptz is null or vf.verified_at is null or vf.verified_at < ${since}::timestamptz) as due
      from files f
      left join verify_files vf on vf.file_id = f.id
      where case when exists (select 1 from source_imports si where si.file_id = f.id)
        then ${props.include.sources}::boolean else ${props.include.files}::boolean end
      order by vf.verified_at nulls first, f.id`.execute(trx)
    return rows
  })
  return {dueIds: rows.filter((r) => r.due).map((r) => r.id), total: rows.length}
}

/** The rows of one page of ids, in the order of the ids. */
async function readPage(db: Kysely<Database>, ids: readonly string[]): Promise<FileToCheck[]> {
  const {rows} = await sql<FileToCheck>`
    select f.id, r.path as root, f.rel_path, f.kind, f.present, f.size_bytes, f.mtime, f.sha256,
      (select min(si.importer) from source_imports si where si.file_id = f.id) as importer,
      vf.size_bytes as seen_size, vf.mtime as seen_mtime, vf.sha256 as seen_sha256
    from files f
    join import_roots r on r.id = f.root_id
    left join verify_files vf on vf.file_id = f.id
    where f.id = any(${toArrayLiteral(ids)}::uuid[])`.execute(db)
  const byId = new Map(rows.map((row) => [row.id, row]))
  // A file deleted by a concurrent import between the two reads is simply not checked.
  return ids.flatMap((id) => byId.get(id) ?? [])
}

interface Outcome {
  findings: CheckFinding[]
  seen: Pick<Seen, 'present' | 'size_bytes' | 'mtime' | 'sha256'>
}

type MakeFinding = (code: string, severity: CheckFinding['severity'], message: string) => CheckFinding

const ABSENT: Outcome['seen'] = {present: false, size_bytes: null, mtime: null, sha256: null}

async function checkOne(file: FileToCheck, context: CheckContext): Promise<Outcome> {
  const root = mapRoot(file.root, context.props.rootMap)
  const absolute = path.join(root, ...file.rel_path.split('/'))
  const finding: MakeFinding = (code, severity, message) => ({
    check: file.importer ? 'sources' : 'files',
    code,
    severity,
    table: 'files',
    id: file.id,
    path: absolute,
    message,
  })
  let info: Stats
  try {
    info = await stat(absolute)
  } catch (error) {
    return checkAbsent(file, {root, absolute, error, finding, context})
  }
  const seen: Outcome['seen'] = {
    present: true,
    size_bytes: info.isFile() ? info.size : null,
    mtime: new Date(Math.floor(info.mtimeMs)),
    sha256: null,
  }
  if (!file.present) {
    const reimport =
      file.importer === 'json'
        ? 'the tree (aedb import-json)'
        : 'the log that references it (aedb backfill-excel)'
    const message = `${absolute} was missing when it was imported and exists now. Re-import ${reimport} to pick it up.`
    return {findings: [finding('FILE_APPEARED', 'warning', message)], seen}
  }
  if (!info.isFile() || file.sha256 === null) return {findings: [], seen}
  try {
    seen.sha256 = await currentHash(file, absolute, info, context)
  } catch (error) {
    return {findings: [finding('FILE_UNREADABLE', 'error', unreadable(absolute, error))], seen}
  }
  if (seen.sha256 === file.sha256) return {findings: [], seen}
  return {findings: [changed(file, {root, absolute, info, current: seen.sha256, finding})], seen}
}

/** A file stat could not find or read: unreadable, absent since import, moved under its root, or missing. */
async function checkAbsent(
  file: FileToCheck,
  at: {root: string; absolute: string; error: unknown; finding: MakeFinding; context: CheckContext},
): Promise<Outcome> {
  const {root, absolute, finding} = at
  const code = (at.error as NodeJS.ErrnoException).code
  if (code !== 'ENOENT' && code !== 'ENOTDIR') {
    return {findings: [finding('FILE_UNREADABLE', 'error', unreadable(absolute, at.error))], seen: ABSENT}
  }
  if (!file.present) {
    const message = `${absolute} was already missing when it was imported and still is. Nothing changed; restore it and re-import if it should exist.`
    return {findings: [finding('FILE_ABSENT_AT_IMPORT', 'warning', message)], seen: ABSENT}
  }
  const movedTo = file.sha256 ? await findMovedFile(at.context.moved, root, file, at.context.onBytes) : null
  if (movedTo) {
    const message = `${absolute} is gone but its bytes (sha256 ${file.sha256!.slice(0, 12)}…) are now at ${path.join(root, movedTo)}. Move it back, or re-import the tree so the database records the new path.`
    return {findings: [finding('FILE_MOVED', 'error', message)], seen: ABSENT}
  }
  const rootHint =
    at.context.props.rootMap.length === 0 ? ', or pass --root-map OLD=NEW if the tree moved' : ''
  const message = `${absolute} was present at import (${file.size_bytes ?? '?'} bytes) and is gone. Restore it from backup${rootHint}.`
  return {findings: [finding('FILE_MISSING', 'error', message)], seen: ABSENT}
}

/**
 * The file's SHA-256 now: the one remembered by the last verify or recorded at import when size and mtime still
 * match (unless rehash), else recomputed (large files at most --jobs at a time).
 */
async function currentHash(
  file: FileToCheck,
  absolute: string,
  info: Stats,
  context: CheckContext,
): Promise<string> {
  const mtime = Math.floor(info.mtimeMs)
  const sameAs = (size: number | null, time: Date | null) =>
    size === info.size && time !== null && time.getTime() === mtime
  if (!context.props.rehash && file.seen_sha256 && sameAs(file.seen_size, file.seen_mtime)) {
    return file.seen_sha256
  }
  if (!context.props.rehash && sameAs(file.size_bytes, file.mtime)) return file.sha256!
  const hash = () => hashFile(absolute, context.onBytes, info.size)
  return (await (info.size <= SMALL_FILE_BYTES ? hash() : context.hashSlot(hash))).sha256
}

/** A file whose bytes differ from the import: a changed source to re-import, or a changed data file. */
function changed(
  file: FileToCheck,
  at: {root: string; absolute: string; info: Stats; current: string; finding: MakeFinding},
): CheckFinding {
  const {absolute, finding} = at
  const was = `${file.size_bytes} bytes, sha256 ${file.sha256}`
  const now = `${at.info.size} bytes, sha256 ${at.current}`
  if (file.importer) {
    const reimport =
      file.importer === 'excel'
        ? `aedb backfill-excel ${quote(absolute)}`
        : `aedb import-json ${quote(at.root)}`
    return finding(
      'SOURCE_CHANGED',
      'warning',
      `${absolute} differs from what was imported (was ${was}; now ${now}). Re-import it: ${reimport}`,
    )
  }
  return finding(
    'FILE_CHANGED',
    'error',
    `${absolute} changed since import (was ${was}; now ${now}). Restore the original from backup, or re-import if the change is intended.`,
  )
}

function unreadable(absolute: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? 'error'
  return `${absolute} cannot be read (${code}: ${(error as Error).message}). Fix its permissions or the disk, then run verify again.`
}

function quote(p: string): string {
  return /^[\w./#-]+$/.test(p) ? p : `'${p.replaceAll("'", "'\\''")}'`
}
