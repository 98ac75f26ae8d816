import {createHash, type Hash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {readFile, stat} from 'node:fs/promises'
import path from 'node:path'
import {createGunzip} from 'node:zlib'
import {AedbError, EXIT} from '../errors.js'
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  BackupHeader,
  BackupTrailer,
  sidecarPath,
  TableEnd,
  TableHeader,
  type TableManifest,
} from './backup-format.js'

/** One step of a backup file, as read: a table starts, a run of its row lines, it ends, or the file ends. */
export type BackupEntry =
  | {kind: 'table'; header: TableHeader}
  /** A run of row lines as read: UTF-8 bytes, each line ending with "\n". */
  | {kind: 'rows'; bytes: Buffer; count: number}
  | {kind: 'tableEnd'; end: TableEnd}
  | {kind: 'end'; tables: CheckedTable[]; rows: number}

export type CheckedTable = TableHeader & TableManifest

/** What is known of a backup before any database is opened: its header, and its SHA-256 checked against FILE.sha256. */
export interface BackupStart {
  file: string
  /** Size of the (compressed) file. */
  bytes: number
  header: BackupHeader
  /** SHA-256 of the file, checked against FILE.sha256 when that exists. */
  sha256: string
  sidecar: 'matched' | 'missing'
}

export function invalidBackup(file: string, why: string, suggestion?: string): AedbError {
  return new AedbError(`${file} is not a usable aedb backup: ${why}. Nothing was written.`, {
    code: 'BACKUP_INVALID',
    exit: EXIT.PROBLEMS,
    suggestions: [suggestion ?? 'Use another copy of the backup, or make a new one with `aedb backup`.'],
  })
}

/**
 * The checks that need no database, made before one is opened: the file's SHA-256 against FILE.sha256 (one fast
 * pass over the compressed bytes; it catches truncation and damage when the sidecar is there), then the header's
 * format and version. Throws BACKUP_INVALID (exit 3), BACKUP_WRONG_FORMAT (exit 3) or BACKUP_TOO_NEW (exit 2).
 */
export async function openBackup(file: string, onWarning?: (message: string) => void): Promise<BackupStart> {
  const sha256 = await checkSidecar(file)
  if (sha256.sidecar === 'missing') {
    onWarning?.(
      `${sidecarPath(file)} is missing: relying on the checksums inside the backup (they catch truncation and damage).`,
    )
  }
  for await (const chunk of backupChunks(file)) {
    const line = chunk.toString('utf8', 0, chunk.indexOf(NEWLINE))
    return {file, bytes: (await stat(file)).size, header: parseHeader(file, line), ...sha256}
  }
  throw invalidBackup(file, 'the file is empty')
}

/**
 * The backup's tables and runs of row lines in file order, checked as they are read: every line against the
 * format, each table's rows against its row count and SHA-256 at its end, and the whole content against the
 * trailer, which ends the stream with an `end` entry. A damaged, truncated or edited file throws BACKUP_INVALID
 * part-way or at the end, so a caller that loads what it reads must do it in a transaction it rolls back then.
 */
export async function* readBackup(
  file: string,
  onRead?: (bytes: number) => void,
): AsyncGenerator<BackupEntry> {
  const checker = new BackupChecker(file)
  for await (const chunk of backupChunks(file, onRead)) yield* checker.read(chunk)
  yield checker.finish()
}

type OpenTable = TableHeader & {rows: number; hash: Hash}

/** The state of reading one backup: where in the file it is, and the checksums so far. */
class BackupChecker {
  private header: BackupHeader | undefined
  private current: OpenTable | undefined
  private trailer: BackupTrailer | undefined
  private readonly tables: CheckedTable[] = []
  private readonly content = createHash('sha256')

  constructor(private readonly file: string) {}

  /**
   * The entries of one chunk of whole lines. Row lines are recognised by their first byte and a run of them is
   * hashed as bytes, in one piece: no line of data is decoded or copied here.
   */
  *read(chunk: Buffer): Generator<BackupEntry> {
    let runStart = -1
    let runLines = 0
    for (let pos = 0; pos < chunk.length; ) {
      const end = chunk.indexOf(NEWLINE, pos)
      if (this.current && chunk[pos] === OPEN_BRACKET) {
        if (runStart < 0) runStart = pos
        runLines += 1
      } else {
        if (runStart >= 0) yield this.rows(chunk.subarray(runStart, pos), runLines)
        runStart = -1
        runLines = 0
        const entry = this.structureLine(chunk.toString('utf8', pos, end))
        if (entry) yield entry
      }
      pos = end + 1
    }
    if (runStart >= 0) yield this.rows(chunk.subarray(runStart), runLines)
  }

  finish(): BackupEntry {
    if (!this.header) throw invalidBackup(this.file, 'the file is empty')
    if (this.current || !this.trailer) {
      throw invalidBackup(this.file, 'the file is truncated (it ends before its trailer)')
    }
    checkTrailer(this.file, this.header, this.tables, this.trailer, this.content.digest('hex'))
    return {kind: 'end', tables: this.tables, rows: this.tables.reduce((sum, t) => sum + t.rows, 0)}
  }

  private rows(bytes: Buffer, count: number): BackupEntry {
    this.current!.hash.update(bytes)
    this.current!.rows += count
    this.content.update(bytes)
    return {kind: 'rows', bytes, count}
  }

  private structureLine(line: string): BackupEntry | undefined {
    if (this.trailer) throw invalidBackup(this.file, 'there is data after the trailer')
    if (this.header === undefined) {
      this.header = parseHeader(this.file, line)
      this.content.update(`${line}\n`)
      return undefined
    }
    const value = parseJson(this.file, line)
    if (this.current) return this.endTable(value, line)
    const table = TableHeader.safeParse(value)
    if (table.success) {
      this.current = {...table.data, rows: 0, hash: createHash('sha256')}
      this.content.update(`${line}\n`)
      return {kind: 'table', header: table.data}
    }
    const trailer = BackupTrailer.safeParse(value)
    if (!trailer.success) throw invalidBackup(this.file, 'a line is neither a table, a row nor the trailer')
    this.trailer = trailer.data
    return undefined
  }

  private endTable(value: unknown, line: string): BackupEntry {
    const current = this.current!
    const end = TableEnd.safeParse(value)
    if (!end.success || end.data.tableEnd !== current.table) {
      throw invalidBackup(this.file, `table ${current.table} does not end where it should`)
    }
    const sha = current.hash.digest('hex')
    if (end.data.rows !== current.rows || end.data.sha256 !== sha) {
      throw invalidBackup(
        this.file,
        `the rows of table ${current.table} do not match their checksum (the file was changed after it was written)`,
      )
    }
    const {hash: _hash, ...table} = current
    this.tables.push({...table, sha256: sha})
    this.current = undefined
    this.content.update(`${line}\n`)
    return {kind: 'tableEnd', end: end.data}
  }
}

function checkTrailer(
  file: string,
  header: BackupHeader,
  tables: CheckedTable[],
  trailer: BackupTrailer,
  contentSha256: string,
): void {
  if (trailer.contentSha256 !== contentSha256) {
    throw invalidBackup(file, 'its content does not match the checksum in its trailer (the file was changed)')
  }
  const names = tables.map((t) => t.table)
  const sameTables =
    JSON.stringify(names) === JSON.stringify(header.tables) &&
    JSON.stringify(Object.keys(trailer.tables).sort()) === JSON.stringify([...names].sort()) &&
    tables.every(
      (t) => trailer.tables[t.table]?.sha256 === t.sha256 && trailer.tables[t.table]?.rows === t.rows,
    )
  if (!sameTables) throw invalidBackup(file, 'its table list and its manifest disagree')
}

async function checkSidecar(file: string): Promise<{sha256: string; sidecar: 'matched' | 'missing'}> {
  const actual = await hashFile(file)
  let expected: string | undefined
  try {
    expected = (await readFile(sidecarPath(file), 'utf8')).trim().split(/\s+/)[0]?.toLowerCase()
  } catch {
    return {sha256: actual, sidecar: 'missing'}
  }
  if (expected !== actual) {
    throw invalidBackup(
      file,
      `its SHA-256 (${actual.slice(0, 12)}…) differs from the one in ${path.basename(sidecarPath(file))} (${(expected ?? '').slice(0, 12)}…): the file is truncated or was changed`,
    )
  }
  return {sha256: actual, sidecar: 'matched'}
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256')
  try {
    for await (const chunk of createReadStream(file, {highWaterMark: 4 * 1024 * 1024})) hash.update(chunk)
  } catch (error) {
    throw new AedbError(`Cannot read ${file}: ${(error as Error).message}.`, {
      code: 'BACKUP_UNREADABLE',
      exit: EXIT.USAGE,
      suggestions: ['Check the path and its permissions.'],
      cause: error,
    })
  }
  return hash.digest('hex')
}

function parseHeader(file: string, line: string): BackupHeader {
  const value = parseJson(file, line, true) as {
    format?: unknown
    formatVersion?: unknown
    aedbVersion?: unknown
  }
  if (value?.format !== BACKUP_FORMAT) throw wrongFormat(file)
  if (typeof value.formatVersion === 'number' && value.formatVersion > BACKUP_FORMAT_VERSION) {
    throw new AedbError(
      `${file} is in backup format ${value.formatVersion}, written by aedb ${String(value.aedbVersion)}; this aedb reads format ${BACKUP_FORMAT_VERSION}.`,
      {
        code: 'BACKUP_TOO_NEW',
        exit: EXIT.USAGE,
        suggestions: [`Restore it with aedb ${String(value.aedbVersion)} or newer.`],
      },
    )
  }
  const header = BackupHeader.safeParse(value)
  if (!header.success) throw invalidBackup(file, 'its header is incomplete')
  return header.data
}

function parseJson(file: string, line: string, first = false): unknown {
  try {
    return JSON.parse(line)
  } catch {
    throw first ? wrongFormat(file) : invalidBackup(file, 'a line is not valid JSON (the file was changed)')
  }
}

function wrongFormat(file: string): AedbError {
  return new AedbError(`${file} is not an aedb backup. Nothing was written.`, {
    code: 'BACKUP_WRONG_FORMAT',
    exit: EXIT.PROBLEMS,
    suggestions: [
      'Pass a file written by `aedb backup` (a pg_dump file is restored with pg_restore, not aedb).',
    ],
  })
}

const NEWLINE = 0x0a
const OPEN_BRACKET = 0x5b

/**
 * The decompressed backup in chunks of whole lines (each ending with "\n"), as bytes: hashing bytes is many times
 * faster than hashing strings, and only what must be parsed is decoded. Memory stays flat.
 */
export async function* backupChunks(file: string, onRead?: (bytes: number) => void): AsyncGenerator<Buffer> {
  const gunzip = createGunzip({chunkSize: 256 * 1024})
  const source = createReadStream(file, {highWaterMark: 1024 * 1024})
  if (onRead) source.on('data', (chunk) => onRead(chunk.length))
  const input = source.pipe(gunzip)
  let rest: Buffer = Buffer.alloc(0)
  let sawData = false
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      sawData = true
      const data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk
      const end = data.lastIndexOf(NEWLINE) + 1
      rest = data.subarray(end)
      if (end > 0) yield data.subarray(0, end)
    }
  } catch (error) {
    const code = (error as {code?: string}).code
    if (!sawData || code === 'Z_DATA_ERROR') throw wrongFormatOrDamaged(file, sawData)
    throw invalidBackup(file, 'the file is truncated (the compressed stream ends early)')
  }
  if (rest.length > 0) throw invalidBackup(file, 'the file is truncated (its last line is incomplete)')
}

function wrongFormatOrDamaged(file: string, sawData: boolean): AedbError {
  return sawData ? invalidBackup(file, 'the compressed data is damaged') : wrongFormat(file)
}
