import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {readFile} from 'node:fs/promises'
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

/** One step of a backup file, as read: a table starts, a batch of its row lines, or it ends. */
export type BackupEntry =
  | {kind: 'table'; header: TableHeader}
  | {kind: 'rows'; lines: string[]}
  | {kind: 'tableEnd'; end: TableEnd}

export interface VerifiedBackup {
  file: string
  header: BackupHeader
  tables: Array<TableHeader & TableManifest>
  rows: number
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
 * Reads the whole backup once without touching any database: the file's SHA-256 against FILE.sha256, then every
 * line against the format, the per-table checksums and the content checksum of the trailer. Throws BACKUP_INVALID
 * (exit 3) for a damaged, truncated or edited file, BACKUP_TOO_NEW (exit 2) for a format this aedb cannot read.
 */
export async function verifyBackup(
  file: string,
  onWarning?: (message: string) => void,
): Promise<VerifiedBackup> {
  const sha256 = await checkSidecar(file)
  if (sha256.sidecar === 'missing') {
    onWarning?.(
      `${sidecarPath(file)} is missing: relying on the checksums inside the backup (they catch truncation and damage).`,
    )
  }
  let header: BackupHeader | undefined
  let current: (TableHeader & {rows: number; hash: ReturnType<typeof createHash>}) | undefined
  let trailer: BackupTrailer | undefined
  const tables: VerifiedBackup['tables'] = []
  const content = createHash('sha256')
  for await (const lines of backupLines(file)) {
    for (const line of lines) {
      if (trailer) throw invalidBackup(file, 'there is data after the trailer')
      if (header === undefined) {
        header = parseHeader(file, line)
        content.update(`${line}\n`)
        continue
      }
      if (current && line.startsWith('[')) {
        current.hash.update(`${line}\n`)
        current.rows += 1
        content.update(`${line}\n`)
        continue
      }
      const value = parseJson(file, line)
      if (current) {
        const end = TableEnd.safeParse(value)
        if (!end.success || end.data.tableEnd !== current.table) {
          throw invalidBackup(file, `table ${current.table} does not end where it should`)
        }
        const sha = current.hash.digest('hex')
        if (end.data.rows !== current.rows || end.data.sha256 !== sha) {
          throw invalidBackup(
            file,
            `the rows of table ${current.table} do not match their checksum (the file was changed after it was written)`,
          )
        }
        const {hash: _hash, ...table} = current
        tables.push({...table, sha256: sha})
        current = undefined
        content.update(`${line}\n`)
        continue
      }
      const table = TableHeader.safeParse(value)
      if (table.success) {
        current = {...table.data, rows: 0, hash: createHash('sha256')}
        content.update(`${line}\n`)
        continue
      }
      const end = BackupTrailer.safeParse(value)
      if (!end.success) throw invalidBackup(file, 'a line is neither a table, a row nor the trailer')
      trailer = end.data
    }
  }
  if (!header) throw invalidBackup(file, 'the file is empty')
  if (current || !trailer) throw invalidBackup(file, 'the file is truncated (it ends before its trailer)')
  checkTrailer(file, header, tables, trailer, content.digest('hex'))
  const rows = tables.reduce((sum, t) => sum + t.rows, 0)
  return {file, header, tables, rows, ...sha256}
}

function checkTrailer(
  file: string,
  header: BackupHeader,
  tables: VerifiedBackup['tables'],
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

/** The decompressed lines of a backup in batches (one per chunk read), so memory stays flat. */
export async function* backupLines(file: string): AsyncGenerator<string[]> {
  const gunzip = createGunzip()
  const input = createReadStream(file, {highWaterMark: 1024 * 1024}).pipe(gunzip)
  input.setEncoding('utf8')
  let rest = ''
  let sawData = false
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      sawData = true
      const parts = (rest + chunk).split('\n')
      rest = parts.pop() ?? ''
      if (parts.length > 0) yield parts
    }
  } catch (error) {
    const code = (error as {code?: string}).code
    if (!sawData || code === 'Z_DATA_ERROR') throw wrongFormatOrDamaged(file, sawData)
    throw invalidBackup(file, 'the file is truncated (the compressed stream ends early)')
  }
  if (rest !== '') throw invalidBackup(file, 'the file is truncated (its last line is incomplete)')
}

function wrongFormatOrDamaged(file: string, sawData: boolean): AedbError {
  return sawData ? invalidBackup(file, 'the compressed data is damaged') : wrongFormat(file)
}

/** The backup's tables and row batches in file order (read after verifyBackup has accepted the file). */
export async function* backupEntries(file: string): AsyncGenerator<BackupEntry> {
  let seenHeader = false
  let inTable = false
  for await (const lines of backupLines(file)) {
    let rows: string[] = []
    for (const line of lines) {
      if (!seenHeader) {
        seenHeader = true
        continue
      }
      if (inTable && line.startsWith('[')) {
        rows.push(line)
        continue
      }
      if (rows.length > 0) {
        yield {kind: 'rows', lines: rows}
        rows = []
      }
      const value = JSON.parse(line) as Record<string, unknown>
      if ('table' in value) {
        inTable = true
        yield {kind: 'table', header: TableHeader.parse(value)}
      } else if ('tableEnd' in value) {
        inTable = false
        yield {kind: 'tableEnd', end: TableEnd.parse(value)}
      }
    }
    if (rows.length > 0) yield {kind: 'rows', lines: rows}
  }
}
