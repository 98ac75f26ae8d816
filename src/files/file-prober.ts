import {Worker} from 'node:worker_threads'

/**
 * A batch of files to probe, in the form it crosses to the thread. Per file: a flag byte (1: hash it when it is a
 * regular file and no known state matches; 2: hash it whatever the known states say) and up to two
 * [size, mtime in whole ms] pairs whose SHA-256 the caller knows (NaN for none): a match is not hashed again.
 */
export interface ProbeBatch {
  /** The paths (they cross to a thread joined by NUL, which no path holds: one string is one copy). */
  paths: readonly string[]
  flags: Uint8Array
  known: Float64Array
}

export const HASH = 1
export const REHASH = 2

/** What the thread found, by index in the batch. */
export interface ProbeReply {
  /** Per file: status (0 file, 1 not a regular file, 2 stat failed, 3 read failed), size, mtime, bytes hashed. */
  numbers: Float64Array
  /** The SHA-256 where the file was hashed, else null. */
  hashes: Array<string | null>
  errors: Array<[number, string, string]>
}

export const STATUS_FILE = 0
export const STATUS_OTHER = 1
export const STATUS_STAT_FAILED = 2
const STATUS_READ_FAILED = 3

/** What stat (and, where asked, a hash) found about one file. */
export type ProbeResult =
  | {ok: false; code: string; message: string}
  | {
      ok: true
      isFile: boolean
      size: number
      mtimeMs: number
      /** Present when the file was hashed. */
      sha256?: string
      /** Set when stat worked but reading for the hash did not. */
      readError?: {code: string; message: string}
      bytesHashed: number
    }

/** A batch of these paths, to be filled in with setProbe (by default: stat only). */
export function newProbeBatch(paths: readonly string[]): ProbeBatch {
  return {
    paths,
    flags: new Uint8Array(paths.length),
    known: new Float64Array(4 * paths.length).fill(Number.NaN),
  }
}

/** What to do with file i of a batch: flags (HASH, REHASH). */
export function setProbe(batch: ProbeBatch, i: number, flags: number): void {
  batch.flags[i] = flags
}

/** A [size, mtime] pair whose SHA-256 the caller knows for file i, in slot 0 or 1: a match is not hashed again. */
export function setKnown(batch: ProbeBatch, i: number, slot: 0 | 1, size: number, mtimeMs: number): void {
  batch.known[4 * i + 2 * slot] = size
  batch.known[4 * i + 2 * slot + 1] = mtimeMs
}

/** The whole result for file i (the slow path: the caller reads `numbers` directly for the common case). */
export function probeResultAt(reply: ProbeReply, i: number): ProbeResult {
  const status = reply.numbers[4 * i]
  const failure = () => {
    const [, code, message] = reply.errors.find(([at]) => at === i)!
    return {code, message}
  }
  if (status === STATUS_STAT_FAILED) return {ok: false, ...failure()}
  const result: ProbeResult = {
    ok: true,
    isFile: status !== STATUS_OTHER,
    size: reply.numbers[4 * i + 1]!,
    mtimeMs: reply.numbers[4 * i + 2]!,
    bytesHashed: reply.numbers[4 * i + 3]!,
  }
  if (reply.hashes[i] !== null) result.sha256 = reply.hashes[i]!
  if (status === STATUS_READ_FAILED) result.readError = failure()
  return result
}

/**
 * The worker's code, kept as plain JavaScript in a string so that it runs the same from dist/, under tsx and under
 * vitest, none of which transform an eval'd worker. Synchronous stat / open / read / close: on local disks the
 * thread-pool round trips of the async calls cost more than the calls themselves (100,000 files of 8 KiB: async
 * readFile + hash 11 s, sync 6.7 s on one core under load); the threads give the parallelism instead, and one
 * reused buffer per thread bounds memory whatever the file sizes.
 */
const WORKER_SOURCE = `
const {parentPort, workerData} = require('node:worker_threads')
const {statSync, openSync, readSync, closeSync} = require('node:fs')
const {createHash} = require('node:crypto')
const buffer = Buffer.allocUnsafe(workerData.chunkBytes)
function failure(error) {
  return [(error && error.code) || 'ERROR', String((error && error.message) || error)]
}
const hashOnce = typeof require('node:crypto').hash === 'function' ? require('node:crypto').hash : null
function hashFile(path, size) {
  const fd = openSync(path, 'r')
  try {
    let n = readSync(fd, buffer, 0, buffer.length, null)
    // The whole file in one read (stat's size came back): no second read to find the end, no Hash object.
    if (n === size && n < buffer.length) {
      const bytes = buffer.subarray(0, n)
      return [hashOnce ? hashOnce('sha256', bytes) : createHash('sha256').update(bytes).digest('hex'), n]
    }
    const hash = createHash('sha256')
    let total = 0
    while (n > 0) {
      hash.update(n === buffer.length ? buffer : buffer.subarray(0, n))
      total += n
      n = readSync(fd, buffer, 0, buffer.length, null)
    }
    return [hash.digest('hex'), total]
  } finally {
    closeSync(fd)
  }
}
function isKnown(known, i, size, mtime) {
  return (known[4 * i] === size && known[4 * i + 1] === mtime) || (known[4 * i + 2] === size && known[4 * i + 3] === mtime)
}
parentPort.on('message', ({joinedPaths, flags, known}) => {
  const paths = joinedPaths.split('\\0')
  const numbers = new Float64Array(4 * paths.length)
  const hashes = new Array(paths.length).fill(null)
  const errors = []
  for (let i = 0; i < paths.length; i++) {
    let info
    try {
      // A missing file comes back as undefined: no error object, message and stack built for each.
      info = statSync(paths[i], {throwIfNoEntry: false})
    } catch (error) {
      numbers[4 * i] = 2
      errors.push([i, ...failure(error)])
      continue
    }
    if (info === undefined) {
      numbers[4 * i] = 2
      errors.push([i, 'ENOENT', "ENOENT: no such file or directory, stat '" + paths[i] + "'"])
      continue
    }
    const size = info.size
    const mtime = Math.floor(info.mtimeMs)
    numbers[4 * i] = info.isFile() ? 0 : 1
    numbers[4 * i + 1] = size
    numbers[4 * i + 2] = mtime
    if (!info.isFile() || !(flags[i] & 1) || (!(flags[i] & 2) && isKnown(known, i, size, mtime))) continue
    try {
      const [sha256, bytes] = hashFile(paths[i], size)
      hashes[i] = sha256
      numbers[4 * i + 3] = bytes
    } catch (error) {
      numbers[4 * i] = 3
      errors.push([i, ...failure(error)])
    }
  }
  parentPort.postMessage({numbers, hashes, errors}, [numbers.buffer])
})
`

export interface FileProber<Slot = unknown> {
  /** Waits for a free thread and hands it out; give it back with probe (which returns it when done) or release. */
  acquire(): Promise<Slot>
  /** Probes a batch on an acquired thread and returns the thread. */
  probe(slot: Slot, batch: ProbeBatch): Promise<ProbeReply>
  release(slot: Slot): void
  close(): Promise<void>
}
/** 1 MiB reads per thread: large files stream through it, small ones are read in one call. */
const CHUNK_BYTES = 1024 * 1024

/** `threads` worker threads that stat and hash files, each working one batch at a time. */
export function createFileProber(threads: number): FileProber<Worker> {
  const workers = Array.from(
    {length: Math.max(1, threads)},
    () => new Worker(WORKER_SOURCE, {eval: true, workerData: {chunkBytes: CHUNK_BYTES}}),
  )
  const free = [...workers]
  const waiting: Array<(worker: Worker) => void> = []
  const release = (worker: Worker) => {
    const next = waiting.shift()
    if (next) next(worker)
    else free.push(worker)
  }
  return {
    acquire: () => {
      const worker = free.pop()
      return worker ? Promise.resolve(worker) : new Promise((resolve) => waiting.push(resolve))
    },
    release,
    async probe(worker, batch) {
      try {
        return await ask(worker, batch)
      } finally {
        release(worker)
      }
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()))
    },
  }
}

function ask(worker: Worker, batch: ProbeBatch): Promise<ProbeReply> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: ProbeReply) => {
      worker.off('error', onError)
      resolve(reply)
    }
    const onError = (error: Error) => {
      worker.off('message', onMessage)
      reject(error)
    }
    worker.once('message', onMessage)
    worker.once('error', onError)
    const message = {joinedPaths: batch.paths.join('\0'), flags: batch.flags, known: batch.known}
    worker.postMessage(message, [batch.flags.buffer as ArrayBuffer, batch.known.buffer as ArrayBuffer])
  })
}
