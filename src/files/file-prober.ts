import {Worker} from 'node:worker_threads'

/** What to find out about one file. */
export interface ProbeRequest {
  path: string
  /** Hash the file when it is a regular file and no `known` state matches (or always with `rehash`). */
  hash: boolean
  rehash: boolean
  /** [size, mtime in whole ms] pairs whose SHA-256 the caller already knows: a match is not hashed again. */
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
  return {code: (error && error.code) || 'ERROR', message: String((error && error.message) || error)}
}
function hashFile(path) {
  const fd = openSync(path, 'r')
  try {
    const hash = createHash('sha256')
    let bytes = 0
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null)
      if (n <= 0) break
      hash.update(n === buffer.length ? buffer : buffer.subarray(0, n))
      bytes += n
    }
    return {sha256: hash.digest('hex'), bytes}
  } finally {
    closeSync(fd)
  }
}
function probe(request) {
  let info
  try {
    info = statSync(request.path)
  } catch (error) {
    return {ok: false, ...failure(error)}
  }
  const result = {ok: true, isFile: info.isFile(), size: info.size, mtimeMs: Math.floor(info.mtimeMs), bytesHashed: 0}
  if (!result.isFile || !request.hash) return result
  if (!request.rehash && request.known.some(([size, mtime]) => size === result.size && mtime === result.mtimeMs)) {
    return result
  }
  try {
    const hashed = hashFile(request.path)
    result.sha256 = hashed.sha256
    result.bytesHashed = hashed.bytes
  } catch (error) {
    result.readError = failure(error)
  }
  return result
}
parentPort.on('message', (batch) => parentPort.postMessage(batch.map(probe)))
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

function ask(worker: Worker, batch: readonly ProbeRequest[]): Promise<ProbeResult[]> {
  return new Promise((resolve, reject) => {
    const onMessage = (results: ProbeResult[]) => {
      worker.off('error', onError)
      resolve(results)
    }
    const onError = (error: Error) => {
      worker.off('message', onMessage)
      reject(error)
    }
    worker.once('message', onMessage)
    worker.once('error', onError)
    worker.postMessage(batch)
  })
}
