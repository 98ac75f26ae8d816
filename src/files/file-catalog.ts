import {lstatSync, type Stats, statSync} from 'node:fs'
import {realpath} from 'node:fs/promises'
import path from 'node:path'
import type {Kysely} from 'kysely'
import {deterministicId} from '../db/deterministic-id.js'
import type {Database, NewRow, Row} from '../db/schema.js'
import {type UpsertCounts, upsertRows} from '../db/upsert-rows.js'
import {AedbError, EXIT} from '../errors.js'
import {hashFile} from './hash-file.js'
import {AUDIO_EXTENSIONS, probeAudio} from './probe-audio.js'

export type FileKind = Row<'files'>['kind'] &
  (
    | 'workbook'
    | 'metadata_json'
    | 'config'
    | 'hash_index'
    | 'audio'
    | 'raw_audio'
    | 'pickle'
    | 'directory'
    | 'waveform'
    | 'spreadsheet'
    | 'other'
  )

export interface FileRecord {
  id: string
  root_id: string
  rel_path: string
  kind: FileKind
  present: boolean
  size_bytes: number | null
  mtime: Date | null
  sha256: string | null
  hashed_at: Date | null
  duration_s: number | null
  sample_rate_hz: number | null
  channels: number | null
  codec: string | null
  probe_error: string | null
}

export interface FileCatalogStats {
  described: number
  hashed: number
  fromCache: number
  missing: number
  bytesHashed: number
}

export interface DescribeOptions {
  /** Probe audio with music-metadata (default: by extension). */
  probe?: boolean
}

export function importRootId(rootPath: string): string {
  return deterministicId('import_root', rootPath)
}

/** What the hash cache needs of a recorded file (not its timestamps of creation and update, ids or run). */
const CACHED_COLUMNS = [
  'rel_path',
  'present',
  'sha256',
  'size_bytes',
  'mtime',
  'hashed_at',
  'duration_s',
  'sample_rate_hz',
  'channels',
  'codec',
  'probe_error',
] as const
type CachedFile = Pick<Row<'files'>, (typeof CACHED_COLUMNS)[number]>

export function fileId(rootPath: string, relPath: string): string {
  return deterministicId('file', rootPath, relPath)
}

/**
 * Every file aedb reads or references, relative to one import root. Hashes come from the database when the
 * file's size and mtime are what was recorded (the hash cache), otherwise the file is streamed through SHA-256.
 * A path that is absolute, climbs out with `..`, or resolves (through symlinks) outside the root is refused and
 * never opened.
 */
export class FileCatalog {
  readonly rootPath: string
  readonly rootId: string
  readonly stats: FileCatalogStats = {described: 0, hashed: 0, fromCache: 0, missing: 0, bytesHashed: 0}
  private cache = new Map<string, CachedFile>()
  private realRoot: string | null = null

  constructor(
    rootPath: string,
    private readonly onBytesHashed?: (bytes: number) => void,
  ) {
    this.rootPath = path.resolve(rootPath)
    this.rootId = importRootId(this.rootPath)
  }

  /** Loads what the database knows of this root's files, for the hash cache. */
  async load(db: Kysely<Database>): Promise<void> {
    this.realRoot = await realpath(this.rootPath)
    const rows = await db
      .selectFrom('files')
      .select(CACHED_COLUMNS)
      .where('root_id', '=', this.rootId)
      .execute()
    this.cache = new Map(rows.map((r) => [r.rel_path, r]))
  }

  /** The absolute path of `relPath`, or an error when it would leave the root. Opens nothing. */
  resolveInside(relPath: string): string {
    const normalised = relPath.split(path.sep).join('/')
    if (path.isAbsolute(relPath) || normalised.split('/').includes('..') || normalised === '') {
      throw new AedbError(`Path ${JSON.stringify(relPath)} is absolute or leaves ${this.rootPath}.`, {
        code: 'PATH_ESCAPE',
        exit: EXIT.PROBLEMS,
      })
    }
    return path.join(this.rootPath, normalised)
  }

  relativePath(absolute: string): string {
    return path.relative(this.rootPath, absolute).split(path.sep).join('/')
  }

  async describe(relPath: string, kind: FileKind, options: DescribeOptions = {}): Promise<FileRecord> {
    const absolute = this.resolveInside(relPath)
    const rel = this.relativePath(absolute)
    this.stats.described++
    const base: FileRecord = {
      id: fileId(this.rootPath, rel),
      root_id: this.rootId,
      rel_path: rel,
      kind,
      present: false,
      size_bytes: null,
      mtime: null,
      sha256: null,
      hashed_at: null,
      duration_s: null,
      sample_rate_hz: null,
      channels: null,
      codec: null,
      probe_error: null,
    }
    const info = statOrNull(absolute)
    if (info === null) {
      this.stats.missing++
      return base
    }
    await this.assertRealPathInside(absolute, relPath)
    const mtime = new Date(Math.floor(info.mtimeMs))
    if (info.isDirectory()) return {...base, kind: 'directory', present: true, mtime}
    // Opening a FIFO blocks until a writer appears, and a device never ends: only regular files are read.
    if (!info.isFile())
      return {
        ...base,
        present: true,
        mtime,
        probe_error: 'not a regular file (FIFO, socket or device); not opened',
      }
    const record: FileRecord = {...base, present: true, size_bytes: info.size, mtime}
    const cached = this.cache.get(rel)
    const wantsProbe = options.probe ?? AUDIO_EXTENSIONS.has(path.extname(rel).toLowerCase())
    // Earlier aedb versions dropped the duration of raw ADTS AAC: such a file is probed again.
    const formerAdts = cached?.probe_error?.startsWith('raw ADTS AAC has no length header') ?? false
    if (
      !formerAdts &&
      cached &&
      matchesCache(cached, info) &&
      (!wantsProbe || cached.duration_s !== null || cached.probe_error !== null)
    ) {
      this.stats.fromCache++
      return {
        ...record,
        sha256: cached.sha256,
        hashed_at: cached.hashed_at,
        duration_s: cached.duration_s,
        sample_rate_hz: cached.sample_rate_hz,
        channels: cached.channels,
        codec: cached.codec,
        probe_error: cached.probe_error,
      }
    }
    const hashed = await hashFile(absolute, this.onBytesHashed)
    this.stats.hashed++
    this.stats.bytesHashed += hashed.bytes
    record.sha256 = hashed.sha256
    record.hashed_at = new Date()
    if (wantsProbe) {
      const probe = await probeAudio(absolute)
      record.duration_s = probe.durationS
      record.sample_rate_hz = probe.sampleRateHz
      record.channels = probe.channels
      record.codec = probe.codec
      record.probe_error = probe.error
    }
    return record
  }

  /** The hash the database records for `relPath` (null: no row, or not hashed): the bytes its rows were written from. */
  recordedSha256(relPath: string): string | null {
    return this.cache.get(relPath)?.sha256 ?? null
  }

  /**
   * True when `relPath` is a regular file (not a link) whose size and mtime are what the last import recorded with
   * its hash: the hash cache's own test, made without opening the file. Anything else (gone, a link, never
   * recorded, changed) is false, so the caller reads it again. A synchronous lstat: an unchanged re-run makes one
   * per file and nothing else, and the thread pool's round trip cost several times the call (1,000 recordings,
   * 9,000 files).
   */
  isUnchanged(relPath: string): boolean {
    const cached = this.cache.get(relPath)
    if (!cached?.present) return false
    try {
      const info = lstatSync(this.resolveInside(relPath), {throwIfNoEntry: false})
      return info?.isFile() === true && matchesCache(cached, info)
    } catch {
      return false
    }
  }

  private async assertRealPathInside(absolute: string, relPath: string): Promise<void> {
    const real = await realpath(absolute)
    const root = this.realRoot ?? (await realpath(this.rootPath))
    if (real !== root && !real.startsWith(root + path.sep)) {
      throw new AedbError(
        `Path ${JSON.stringify(relPath)} resolves outside ${this.rootPath} (through a symbolic link).`,
        {
          code: 'PATH_ESCAPE',
          exit: EXIT.PROBLEMS,
        },
      )
    }
  }
}

/**
 * The file's stat, or null when it is not there or cannot be looked at (treated as missing, as before). Synchronous:
 * a log references dozens of files that are often missing, and a missing file through the promise API costs about
 * 57 µs of CPU (an Error built and thrown across the thread pool) against 2 µs here (50,000 missing paths: 2.85 s vs
 * 0.10 s); a profile of 10,000 logs spent 25 s of the main thread in it.
 */
function statOrNull(absolute: string): Stats | null {
  try {
    return statSync(absolute, {throwIfNoEntry: false}) ?? null
  } catch {
    return null
  }
}

/** The hash cache's test: a hashed, present row with this size and (millisecond) mtime. */
function matchesCache(cached: CachedFile, info: Stats): boolean {
  return (
    cached.sha256 !== null &&
    cached.size_bytes === info.size &&
    cached.mtime?.getTime() === Math.floor(info.mtimeMs)
  )
}

/** What makes a file row changed when it is written again (every column the importers describe a file with). */
export const FILE_COMPARE_COLUMNS = [
  'kind',
  'present',
  'size_bytes',
  'mtime',
  'sha256',
  'duration_s',
  'sample_rate_hz',
  'channels',
  'codec',
  'probe_error',
] as const

/** Writes the import root and file rows (batched upsert on (root_id, rel_path)). */
export async function upsertFiles(
  db: Kysely<Database>,
  rootPath: string,
  records: readonly FileRecord[],
  runId: string | null,
): Promise<UpsertCounts> {
  const root = path.resolve(rootPath)
  await upsertRows({
    db,
    table: 'import_roots',
    rows: [{id: importRootId(root), path: root}],
    conflict: ['path'],
  })
  const unique = new Map(records.map((r) => [r.rel_path, r]))
  const rows: NewRow<'files'>[] = [...unique.values()].map((r) => ({...r, run_id: runId}))
  return upsertRows({
    db,
    table: 'files',
    rows,
    conflict: ['root_id', 'rel_path'],
    compare: FILE_COMPARE_COLUMNS,
  })
}
