import type {Stats} from 'node:fs'
import {stat} from 'node:fs/promises'
import path from 'node:path'
import {type Kysely, sql} from 'kysely'
import type {Database} from '../db/schema.js'
import {upsertRows} from '../db/upsert-rows.js'
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

const WRITE_BATCH = 1000

/**
 * Every recorded file against the disk, oldest-verified first: stat, and the SHA-256 recomputed where size or
 * mtime changed (or always with rehash). What each file looked like is remembered in verify_files, so a change
 * found once by --rehash is found again by the next plain run, and a touched but unchanged file is hashed once.
 */
export async function checkFiles(props: CheckFilesProps): Promise<CheckFilesResult> {
  const all = await readFilesToCheck(props)
  const due = all.filter((f) => isDue(f, props.notVerifiedSince))
  const findings: CheckFinding[] = []
  const checkedIds = new Set<string>()
  const moved: MovedFileIndex = new Map()
  let pending: Seen[] = []
  let bytesHashed = 0
  let done = 0
  const flush = async () => {
    const rows = pending
    pending = []
    if (rows.length > 0) await upsertRows({db: props.db, table: 'verify_files', rows, conflict: ['file_id']})
  }
  await mapConcurrent(due, props.jobs, async (file) => {
    if (props.deadline !== null && Date.now() >= props.deadline && checkedIds.size > 0) return
    checkedIds.add(file.id)
    const outcome = await checkOne(file, props, moved, (bytes) => {
      bytesHashed += bytes
    })
    findings.push(...outcome.findings)
    pending.push({...outcome.seen, file_id: file.id, verified_at: new Date(), run_id: props.runId})
    done++
    props.onProgress?.({done, total: due.length, bytesHashed})
    if (pending.length >= WRITE_BATCH) await flush()
  })
  await flush()
  return {findings, checkedIds, due: due.length, total: all.length, bytesHashed}
}

function isDue(file: FileToCheck & {verified_at?: Date | null}, since: Date | null): boolean {
  return since === null || !file.verified_at || file.verified_at < since
}

async function readFilesToCheck(
  props: CheckFilesProps,
): Promise<Array<FileToCheck & {verified_at: Date | null}>> {
  const {rows} = await sql<FileToCheck & {verified_at: Date | null}>`
    select f.id, r.path as root, f.rel_path, f.kind, f.present, f.size_bytes, f.mtime, f.sha256,
      (select min(si.importer) from source_imports si where si.file_id = f.id) as importer,
      vf.size_bytes as seen_size, vf.mtime as seen_mtime, vf.sha256 as seen_sha256, vf.verified_at
    from files f
    join import_roots r on r.id = f.root_id
    left join verify_files vf on vf.file_id = f.id
    order by vf.verified_at nulls first, f.id`.execute(props.db)
  return rows.filter((f) => (f.importer ? props.include.sources : props.include.files))
}

interface Outcome {
  findings: CheckFinding[]
  seen: Pick<Seen, 'present' | 'size_bytes' | 'mtime' | 'sha256'>
}

async function checkOne(
  file: FileToCheck,
  props: CheckFilesProps,
  moved: MovedFileIndex,
  onBytes: (bytes: number) => void,
): Promise<Outcome> {
  const root = mapRoot(file.root, props.rootMap)
  const absolute = path.join(root, ...file.rel_path.split('/'))
  const finding = (code: string, severity: CheckFinding['severity'], message: string): CheckFinding => ({
    check: file.importer ? 'sources' : 'files',
    code,
    severity,
    table: 'files',
    id: file.id,
    path: absolute,
    message,
  })
  const absent: Outcome['seen'] = {present: false, size_bytes: null, mtime: null, sha256: null}
  let info: Stats
  try {
    info = await stat(absolute)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      return {findings: [finding('FILE_UNREADABLE', 'error', unreadable(absolute, error))], seen: absent}
    }
    if (!file.present) {
      return {
        findings: [
          finding(
            'FILE_ABSENT_AT_IMPORT',
            'warning',
            `${absolute} was already missing when it was imported and still is. Nothing changed; restore it and re-import if it should exist.`,
          ),
        ],
        seen: absent,
      }
    }
    const movedTo = file.sha256 ? await findMovedFile(moved, root, file, onBytes) : null
    if (movedTo) {
      return {
        findings: [
          finding(
            'FILE_MOVED',
            'error',
            `${absolute} is gone but its bytes (sha256 ${file.sha256!.slice(0, 12)}…) are now at ${path.join(root, movedTo)}. Move it back, or re-import the tree so the database records the new path.`,
          ),
        ],
        seen: absent,
      }
    }
    return {
      findings: [
        finding(
          'FILE_MISSING',
          'error',
          `${absolute} was present at import (${file.size_bytes ?? '?'} bytes) and is gone. Restore it from backup${props.rootMap.length === 0 ? ', or pass --root-map OLD=NEW if the tree moved' : ''}.`,
        ),
      ],
      seen: absent,
    }
  }
  const mtime = new Date(Math.floor(info.mtimeMs))
  const seen: Outcome['seen'] = {
    present: true,
    size_bytes: info.isFile() ? info.size : null,
    mtime,
    sha256: null,
  }
  if (!file.present) {
    const findings = [
      finding(
        'FILE_APPEARED',
        'warning',
        `${absolute} was missing when it was imported and exists now. Re-import ${file.importer === 'json' ? 'the tree (aedb import-json)' : 'the log that references it (aedb backfill-excel)'} to pick it up.`,
      ),
    ]
    return {findings, seen}
  }
  if (!info.isFile() || file.sha256 === null) return {findings: [], seen}
  const sameAs = (size: number | null, time: Date | null) =>
    size === info.size && time !== null && time.getTime() === mtime.getTime()
  let current: string | null = null
  if (!props.rehash && file.seen_sha256 && sameAs(file.seen_size, file.seen_mtime)) current = file.seen_sha256
  else if (!props.rehash && sameAs(file.size_bytes, file.mtime)) current = file.sha256
  else {
    try {
      current = (await hashFile(absolute, onBytes, info.size)).sha256
    } catch (error) {
      return {findings: [finding('FILE_UNREADABLE', 'error', unreadable(absolute, error))], seen}
    }
  }
  seen.sha256 = current
  if (current === file.sha256) return {findings: [], seen}
  const was = `${file.size_bytes} bytes, sha256 ${file.sha256}`
  const now = `${info.size} bytes, sha256 ${current}`
  if (file.importer) {
    const reimport =
      file.importer === 'excel' ? `aedb backfill-excel ${quote(absolute)}` : `aedb import-json ${quote(root)}`
    return {
      findings: [
        finding(
          'SOURCE_CHANGED',
          'warning',
          `${absolute} differs from what was imported (was ${was}; now ${now}). Re-import it: ${reimport}`,
        ),
      ],
      seen,
    }
  }
  return {
    findings: [
      finding(
        'FILE_CHANGED',
        'error',
        `${absolute} changed since import (was ${was}; now ${now}). Restore the original from backup, or re-import if the change is intended.`,
      ),
    ],
    seen,
  }
}

function unreadable(absolute: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? 'error'
  return `${absolute} cannot be read (${code}: ${(error as Error).message}). Fix its permissions or the disk, then run verify again.`
}

function quote(p: string): string {
  return /^[\w./#-]+$/.test(p) ? p : `'${p.replaceAll("'", "'\\''")}'`
}
