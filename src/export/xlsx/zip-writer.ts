import type {FileHandle} from 'node:fs/promises'
import {open} from 'node:fs/promises'
import {promisify} from 'node:util'
import zlib from 'node:zlib'

const deflateRaw = promisify(zlib.deflateRaw)

/** Bytes of text gathered into one block before it is deflated: big enough for deflate, few enough to overlap. */
const BLOCK_BYTES = 1024 * 1024
/** Blocks deflating in libuv's thread pool at once (both cores busy while the main thread builds the next). */
const IN_FLIGHT = 3
/**
 * Level 1: about as small as the default for sheet XML at a fraction of the time (level 0 would store the XML, six
 * times the file); memLevel 9, a bigger hash table: the same size for about 3 % less CPU than the default 8. An
 * output buffer larger than a block's deflated size lets each thread-pool job deflate the whole block instead of
 * returning to the main thread every 16 KiB.
 */
const DEFLATE_OPTIONS: zlib.ZlibOptions = {
  level: 1,
  memLevel: 9,
  finishFlush: zlib.constants.Z_SYNC_FLUSH,
  chunkSize: 1024 * 1024,
}
/** The empty final deflate block (BFINAL set) that closes a run of sync-flushed blocks. */
const FINAL_BLOCK = zlib.deflateRawSync(Buffer.alloc(0), {level: 1})
const U32 = 0xffffffff

interface ZipEntry {
  name: Buffer
  offset: number
  crc: number
  compressed: number
  size: number
}

/**
 * A zip file written front to back, one entry at a time, each deflated (level 1) as it is written: an entry's text
 * is cut into 1 MiB blocks that are deflated in parallel in the thread pool (each ends on a sync flush, so the
 * blocks joined are one deflate stream, as pigz does) while the CRC-32 is taken natively on the main thread. Local
 * headers carry a data descriptor (sizes are known only at the end); sizes and offsets past 4 GiB get zip64
 * fields in the central directory and a zip64 end record, so a sheet of any size fits.
 */
export class ZipWriter {
  private readonly entries: ZipEntry[] = []
  private readonly blocks = new BlockPool()
  private offset = 0
  private current: EntryWriter | undefined

  private constructor(private readonly file: FileHandle) {}

  static async create(path: string): Promise<ZipWriter> {
    return new ZipWriter(await open(path, 'w'))
  }

  /** Starts an entry; write its text with `write`, then `endEntry`. One entry at a time. */
  async startEntry(name: string): Promise<void> {
    if (this.current) throw new Error(`zip entry ${name} started before the last one ended`)
    const entry: ZipEntry = {
      name: Buffer.from(name, 'utf8'),
      offset: this.offset,
      crc: 0,
      compressed: 0,
      size: 0,
    }
    await this.append(localHeader(entry.name))
    this.current = new EntryWriter(entry, this.blocks, (chunk) => this.append(chunk))
  }

  async write(text: string): Promise<void> {
    if (this.current!.push(text)) await this.current!.drain()
  }

  /** Appends text to the entry without waiting; true when `drain` should be awaited before more. */
  push(text: string): boolean {
    return this.current!.push(text)
  }

  /** An empty block to fill and hand back with `pushBlock` (one deflated before, when there is one). */
  takeBlock(): Buffer {
    return this.blocks.take()
  }

  /**
   * Appends the first `used` bytes of a block made elsewhere (sheet XML) after what was written before, without
   * waiting; the block is the writer's from now on. True when `drain` should be awaited before more.
   */
  pushBlock(block: Buffer, used: number): boolean {
    return this.current!.pushBlock(block, used)
  }

  /** Waits while too many blocks are deflating, writing the finished ones. */
  async drain(): Promise<void> {
    await this.current!.drain()
  }

  async endEntry(): Promise<void> {
    const entry = await this.current!.end()
    this.current = undefined
    await this.append(dataDescriptor(entry))
    this.entries.push(entry)
  }

  /** One whole entry. */
  async add(name: string, text: string): Promise<void> {
    await this.startEntry(name)
    await this.write(text)
    await this.endEntry()
  }

  /** Writes the central directory and closes the file. */
  async finish(): Promise<void> {
    const start = this.offset
    for (const entry of this.entries) await this.append(centralHeader(entry))
    await this.append(endRecords(this.entries.length, start, this.offset - start))
    await this.file.close()
  }

  /** Closes the file after a failure; the caller removes it. */
  async abort(): Promise<void> {
    await this.current?.settle()
    await this.file.close().catch(() => {})
  }

  private async append(chunk: Buffer): Promise<void> {
    await this.file.write(chunk)
    this.offset += chunk.length
  }
}

/**
 * The text of one entry on its way through the blocks: UTF-8 encoded straight into the current block (no long
 * string to flatten), CRC and size taken here, deflate in the pool, bytes written in order.
 */
class EntryWriter {
  private block: Buffer
  private used = 0
  private readonly deflating: Array<Promise<Buffer>> = []
  /** The block each deflate reads, given back to the pool once it is done. */
  private readonly inputs: Buffer[] = []

  constructor(
    private readonly entry: ZipEntry,
    private readonly blocks: BlockPool,
    private readonly output: (chunk: Buffer) => Promise<void>,
  ) {
    this.block = blocks.take()
  }

  /** Encodes `text` into the block (a text too big for any block becomes a block of its own). */
  push(text: string): boolean {
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    if (text.length * 3 > this.block.length - this.used) {
      this.sendBlock()
      if (text.length * 3 > this.block.length) {
        const bytes = Buffer.from(text, 'utf8')
        this.send(bytes, bytes.length)
        return this.deflating.length >= IN_FLIGHT
      }
    }
    this.used += this.block.write(text, this.used)
    return this.deflating.length >= IN_FLIGHT
  }

  /** A block from elsewhere, after the text pushed so far. */
  pushBlock(block: Buffer, used: number): boolean {
    this.sendBlock()
    if (used > 0) this.send(block, used)
    return this.deflating.length >= IN_FLIGHT
  }

  async drain(): Promise<void> {
    while (this.deflating.length >= IN_FLIGHT) await this.writeOldest()
  }

  async end(): Promise<ZipEntry> {
    this.sendBlock()
    while (this.deflating.length > 0) await this.writeOldest()
    await this.output(FINAL_BLOCK)
    this.entry.compressed += FINAL_BLOCK.length
    return this.entry
  }

  /** Waits for the blocks in flight (their errors included) so nothing writes after the file closes. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.deflating)
  }

  private sendBlock(): void {
    if (this.used === 0) return
    this.send(this.block, this.used)
    this.block = this.blocks.take()
    this.used = 0
  }

  /** Deflates the first `used` bytes of `block` in the pool. */
  private send(block: Buffer, used: number): void {
    const bytes = block.subarray(0, used)
    this.entry.crc = zlib.crc32(bytes, this.entry.crc)
    this.entry.size += bytes.length
    const deflated = deflateRaw(bytes, DEFLATE_OPTIONS)
    // A rejection is handled by writeOldest or settle; this keeps it from counting as unhandled meanwhile.
    deflated.catch(() => {})
    this.deflating.push(deflated)
    this.inputs.push(block)
  }

  private async writeOldest(): Promise<void> {
    const deflated = await this.deflating[0]!
    this.deflating.shift()
    this.blocks.give(this.inputs.shift()!)
    await this.output(deflated)
    this.entry.compressed += deflated.length
  }
}

/**
 * Blocks of `BLOCK_BYTES` for text on its way to deflate, given back once deflated: a sheet goes through a few
 * blocks over and over instead of a fresh MiB of memory for every MiB of XML (less to allocate and collect).
 */
class BlockPool {
  private readonly free: Buffer[] = []

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(BLOCK_BYTES)
  }

  /** Keeps a block of the pool's size for the next `take` (others, and more than a few, are left to the GC). */
  give(block: Buffer): void {
    if (block.length === BLOCK_BYTES && this.free.length < IN_FLIGHT * 2) this.free.push(block)
  }
}

/** DOS date and time of now, as zip headers carry them. */
function dosDateTime(): {time: number; date: number} {
  const now = new Date()
  return {
    time: (now.getHours() << 11) | (now.getMinutes() << 5) | Math.floor(now.getSeconds() / 2),
    date: ((now.getFullYear() - 1980) << 9) | ((now.getMonth() + 1) << 5) | now.getDate(),
  }
}

const STAMP = dosDateTime()
/** General purpose flags: bit 3, sizes and CRC in the data descriptor after the data. */
const FLAGS = 0x0008
const DEFLATED = 8

function localHeader(name: Buffer): Buffer {
  const b = Buffer.alloc(30)
  b.writeUInt32LE(0x04034b50, 0)
  b.writeUInt16LE(20, 4)
  b.writeUInt16LE(FLAGS, 6)
  b.writeUInt16LE(DEFLATED, 8)
  b.writeUInt16LE(STAMP.time, 10)
  b.writeUInt16LE(STAMP.date, 12)
  // CRC and sizes (14-25) stay zero: they follow the data.
  b.writeUInt16LE(name.length, 26)
  return Buffer.concat([b, name])
}

function needsZip64(entry: ZipEntry): boolean {
  return entry.size >= U32 || entry.compressed >= U32
}

function dataDescriptor(entry: ZipEntry): Buffer {
  const zip64 = needsZip64(entry)
  const b = Buffer.alloc(zip64 ? 24 : 16)
  b.writeUInt32LE(0x08074b50, 0)
  b.writeUInt32LE(entry.crc, 4)
  if (zip64) {
    b.writeBigUInt64LE(BigInt(entry.compressed), 8)
    b.writeBigUInt64LE(BigInt(entry.size), 16)
  } else {
    b.writeUInt32LE(entry.compressed, 8)
    b.writeUInt32LE(entry.size, 12)
  }
  return b
}

function centralHeader(entry: ZipEntry): Buffer {
  const wide = [entry.size, entry.compressed, entry.offset].map((n) => n >= U32)
  const extraValues = [entry.size, entry.compressed, entry.offset].filter((_, i) => wide[i])
  const extra = Buffer.alloc(extraValues.length > 0 ? 4 + 8 * extraValues.length : 0)
  if (extra.length > 0) {
    extra.writeUInt16LE(0x0001, 0)
    extra.writeUInt16LE(8 * extraValues.length, 2)
    for (const [i, n] of extraValues.entries()) extra.writeBigUInt64LE(BigInt(n), 4 + 8 * i)
  }
  const b = Buffer.alloc(46)
  b.writeUInt32LE(0x02014b50, 0)
  b.writeUInt16LE(45, 4)
  b.writeUInt16LE(extra.length > 0 ? 45 : 20, 6)
  b.writeUInt16LE(FLAGS, 8)
  b.writeUInt16LE(DEFLATED, 10)
  b.writeUInt16LE(STAMP.time, 12)
  b.writeUInt16LE(STAMP.date, 14)
  b.writeUInt32LE(entry.crc, 16)
  b.writeUInt32LE(wide[1] ? U32 : entry.compressed, 20)
  b.writeUInt32LE(wide[0] ? U32 : entry.size, 24)
  b.writeUInt16LE(entry.name.length, 28)
  b.writeUInt16LE(extra.length, 30)
  // Comment length, disk, internal and external attributes (32-41) stay zero.
  b.writeUInt32LE(wide[2] ? U32 : entry.offset, 42)
  return Buffer.concat([b, entry.name, extra])
}

/** The end of central directory record, preceded by the zip64 record and locator when anything is too big. */
function endRecords(count: number, start: number, size: number): Buffer {
  const zip64 = count >= 0xffff || start >= U32 || size >= U32
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(Math.min(count, 0xffff), 8)
  end.writeUInt16LE(Math.min(count, 0xffff), 10)
  end.writeUInt32LE(Math.min(size, U32), 12)
  end.writeUInt32LE(Math.min(start, U32), 16)
  if (!zip64) return end
  const record = Buffer.alloc(56)
  record.writeUInt32LE(0x06064b50, 0)
  record.writeBigUInt64LE(44n, 4)
  record.writeUInt16LE(45, 12)
  record.writeUInt16LE(45, 14)
  record.writeBigUInt64LE(BigInt(count), 24)
  record.writeBigUInt64LE(BigInt(count), 32)
  record.writeBigUInt64LE(BigInt(size), 40)
  record.writeBigUInt64LE(BigInt(start), 48)
  const locator = Buffer.alloc(20)
  locator.writeUInt32LE(0x07064b50, 0)
  locator.writeBigUInt64LE(BigInt(start + size), 8)
  locator.writeUInt32LE(1, 16)
  return Buffer.concat([record, locator, end])
}
