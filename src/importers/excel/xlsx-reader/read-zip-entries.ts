import zlib from 'node:zlib'

/** Raised for anything the fast reader does not handle exactly as exceljs does; the caller then uses exceljs. */
export class UnsupportedWorkbook extends Error {}

export interface ZipEntry {
  name: string
  method: number
  compressedSize: number
  size: number
  /** Where the entry's compressed bytes start in the file. */
  dataOffset: number
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50
const CENTRAL_FILE_HEADER = 0x02014b50
const LOCAL_FILE_HEADER = 0x04034b50
const STORED = 0
const DEFLATED = 8

/**
 * The entries of a zip archive from its central directory (an .xlsx is a small zip: no zip64, no encryption, no
 * multi-disk). Anything else is UnsupportedWorkbook, and exceljs reads the file (and says what is wrong with it).
 */
export function readZipEntries(bytes: Buffer): Map<string, ZipEntry> {
  const end = findEndOfCentralDirectory(bytes)
  const count = bytes.readUInt16LE(end + 10)
  let at = bytes.readUInt32LE(end + 16)
  const entries = new Map<string, ZipEntry>()
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || bytes.readUInt32LE(at) !== CENTRAL_FILE_HEADER)
      throw new UnsupportedWorkbook('central directory')
    const flags = bytes.readUInt16LE(at + 8)
    const method = bytes.readUInt16LE(at + 10)
    const compressedSize = bytes.readUInt32LE(at + 20)
    const size = bytes.readUInt32LE(at + 24)
    const nameLength = bytes.readUInt16LE(at + 28)
    const extraLength = bytes.readUInt16LE(at + 30)
    const commentLength = bytes.readUInt16LE(at + 32)
    const localOffset = bytes.readUInt32LE(at + 42)
    // Encrypted entries, non-ASCII names, zip64 sizes and methods other than stored/deflate are left to exceljs.
    if ((flags & 0x1) !== 0 || hasNonAscii(bytes, at + 46, nameLength))
      throw new UnsupportedWorkbook('entry flags')
    if ((method !== STORED && method !== DEFLATED) || compressedSize === 0xffffffff || size === 0xffffffff)
      throw new UnsupportedWorkbook('entry method')
    const name = bytes.toString('utf8', at + 46, at + 46 + nameLength)
    if (entries.has(name)) throw new UnsupportedWorkbook('duplicate entry')
    entries.set(name, {name, method, compressedSize, size, dataOffset: localDataOffset(bytes, localOffset)})
    at += 46 + nameLength + extraLength + commentLength
  }
  return entries
}

function hasNonAscii(bytes: Buffer, from: number, length: number): boolean {
  for (let i = from; i < from + length; i++) if (bytes[i]! > 0x7f) return true
  return false
}

function findEndOfCentralDirectory(bytes: Buffer): number {
  const earliest = Math.max(0, bytes.length - 22 - 0xffff)
  for (let at = bytes.length - 22; at >= earliest; at--)
    if (bytes.readUInt32LE(at) === END_OF_CENTRAL_DIRECTORY) {
      const disk = bytes.readUInt16LE(at + 4)
      const onDisk = bytes.readUInt16LE(at + 8)
      const total = bytes.readUInt16LE(at + 10)
      if (disk !== 0 || onDisk !== total || total === 0xffff)
        throw new UnsupportedWorkbook('multi-disk or zip64')
      if (at + 22 + bytes.readUInt16LE(at + 20) !== bytes.length)
        throw new UnsupportedWorkbook('trailing bytes')
      return at
    }
  throw new UnsupportedWorkbook('no end of central directory')
}

function localDataOffset(bytes: Buffer, localOffset: number): number {
  if (localOffset + 30 > bytes.length || bytes.readUInt32LE(localOffset) !== LOCAL_FILE_HEADER)
    throw new UnsupportedWorkbook('local header')
  return localOffset + 30 + bytes.readUInt16LE(localOffset + 26) + bytes.readUInt16LE(localOffset + 28)
}

/** An entry's bytes, inflated; its size must be what the central directory says (jszip does not check CRCs). */
export function inflateEntry(bytes: Buffer, entry: ZipEntry): Buffer {
  const end = entry.dataOffset + entry.compressedSize
  if (end > bytes.length) throw new UnsupportedWorkbook('entry cut short')
  const data = bytes.subarray(entry.dataOffset, end)
  let out: Buffer
  try {
    out = entry.method === STORED ? data : zlib.inflateRawSync(data)
  } catch {
    throw new UnsupportedWorkbook('inflate')
  }
  if (out.length !== entry.size) throw new UnsupportedWorkbook('entry size')
  return out
}

/**
 * The first bytes of an entry's inflated text, inflating only a prefix of its compressed bytes (a sync flush gives
 * whatever a partial stream holds): enough to find a sheet's `<dimension>` without inflating the sheet.
 */
export function inflateEntryHead(bytes: Buffer, entry: ZipEntry, compressedBytes = 4096): string {
  const data = bytes.subarray(
    entry.dataOffset,
    entry.dataOffset + Math.min(entry.compressedSize, compressedBytes),
  )
  if (entry.method === STORED) return data.toString('utf8')
  try {
    return zlib.inflateRawSync(data, {finishFlush: zlib.constants.Z_SYNC_FLUSH}).toString('utf8')
  } catch {
    throw new UnsupportedWorkbook('inflate')
  }
}
