import {Worker} from 'node:worker_threads'

/** What to find out about one file. */
export interface ProbeRequest {
  path: string
  /** Hash the file when it is a regular file and no `known` state matches (or always with `rehash`). */
  hash: boolean
  rehash: boolean
  /** Up to two [size, mtime in whole ms] pairs whose SHA-256 the caller knows: a match is not hashed again. */
  known: Array<[number, number]>
}

/** What stat (and, where asked, a hash) found. */
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
parentPort.on('message', ({paths, flags, known}) => {
  const numbers = new Float64Array(4 * paths.length)
  const hashes = new Array(paths.length).fill(null)
  const errors = []
  for (let i = 0; i < paths.length; i++) {
    let info
    try {
      info = statSync(paths[i])
    } catch (error) {
      numbers[4 * i] = 2
      errors.push([i, ...failure(error)])
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

export interface FileProber {
  /** Waits for a free thread and hands it out; give it back with probe (which returns it when done) or release. */
  acquire(): Promise<Worker>
  /** Probes a batch on an acquired thread and returns the thread; results keep the batch's order. */
  probe(worker: Worker, batch: readonly ProbeRequest[]): Promise<ProbeResult[]>
  release(worker: Worker): void
  close(): Promise<void>
}

/** 1 MiB reads per thread: large files stream through it, small ones are read in one call. */
const CHUNK_BYTES = 1024 * 1024

/** `threads` worker threads that stat and hash files, each working one batch at a time. */
export function createFileProber(threads: number): FileProber {
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

/** On the wire: paths, a flag byte and two known [size, mtime] pairs per file (NaN for none). */
function encode(batch: readonly ProbeRequest[]) {
  const flags = new Uint8Array(batch.length)
  const known = new Float64Array(4 * batch.length).fill(Number.NaN)
  for (const [i, r] of batch.entries()) {
    flags[i] = (r.hash ? 1 : 0) | (r.rehash ? 2 : 0)
    for (const [k, [size, mtime]] of r.known.slice(0, 2).entries()) {
      known[4 * i + 2 * k] = size
      known[4 * i + 2 * k + 1] = mtime
    }
  }
  return {paths: batch.map((r) => r.path), flags, known}
}

interface WireResult {
  /** Per file: status (0 file, 1 not a regular file, 2 stat failed, 3 read failed), size, mtime, bytes hashed. */
  numbers: Float64Array
  hashes: Array<string | null>
  errors: Array<[number, string, string]>
}

function decode({numbers, hashes, errors}: WireResult): ProbeResult[] {
  const failures = new Map(errors.map(([i, code, message]) => [i, {code, message}]))
  return hashes.map((sha256, i): ProbeResult => {
    const status = numbers[4 * i]
    if (status === 2) return {ok: false, ...failures.get(i)!}
    return {
      ok: true,
      isFile: status !== 1,
      size: numbers[4 * i + 1]!,
      mtimeMs: numbers[4 * i + 2]!,
      ...(sha256 === null ? {} : {sha256}),
      ...(status === 3 ? {readError: failures.get(i)!} : {}),
      bytesHashed: numbers[4 * i + 3]!,
    }
  })
}

function ask(worker: Worker, batch: readonly ProbeRequest[]): Promise<ProbeResult[]> {
  return new Promise((resolve, reject) => {
    const onMessage = (results: WireResult) => {
      worker.off('error', onError)
      resolve(decode(results))
    }
    const onError = (error: Error) => {
      worker.off('message', onMessage)
      reject(error)
    }
    worker.once('message', onMessage)
    worker.once('error', onError)
    const wire = encode(batch)
    worker.postMessage(wire, [wire.flags.buffer, wire.known.buffer])
  })
}
