import {type Stats, statSync} from 'node:fs'
import {
  createFileProber,
  type FileProber,
  HASH,
  newProbeBatch,
  type ProbeBatch,
  type ProbeReply,
  REHASH,
  STATUS_FILE,
  STATUS_OTHER,
  STATUS_STAT_FAILED,
} from './file-prober.js'

/**
 * A prober for stat-only passes: the files are stat'ed on the calling thread, a batch at a time between turns of the
 * event loop, and only a file that must be hashed (its size or mtime is not one whose hash is known) goes to a
 * worker thread, started when the first such file turns up. A stat is a short system call: on 2 cores the threads'
 * start (~40 ms of CPU each) and the hand-over of every batch cost more than the calls, and the calling thread
 * waits for the database's next page most of the time anyway. The reply is the one the threads would give.
 */
export function createStatProber(hashThreads: number): FileProber {
  let threads: FileProber | null = null
  const hashOnThreads = async (batch: ProbeBatch): Promise<ProbeReply> => {
    threads ??= createFileProber(hashThreads)
    return threads.probe(await threads.acquire(), batch)
  }
  return {
    // A turn of the event loop before each batch: the database's replies are read while the files are stat'ed.
    acquire: () => new Promise((resolve) => setImmediate(resolve)),
    release: () => {},
    async probe(_slot, batch) {
      const {reply, toHash} = statBatch(batch)
      if (toHash.length > 0) mergeHashed(reply, toHash, await hashOnThreads(subBatch(batch, toHash)))
      return reply
    },
    close: async () => {
      await threads?.close()
    },
  }
}

/** What the worker thread's stat finds, and which files it would go on to hash. */
function statBatch(batch: ProbeBatch): {reply: ProbeReply; toHash: number[]} {
  const {paths} = batch
  const numbers = new Float64Array(4 * paths.length)
  const hashes = new Array<string | null>(paths.length).fill(null)
  const errors: Array<[number, string, string]> = []
  const toHash: number[] = []
  for (let i = 0; i < paths.length; i++) {
    let info: Stats | undefined
    try {
      info = statSync(paths[i]!, {throwIfNoEntry: false})
    } catch (error) {
      numbers[4 * i] = STATUS_STAT_FAILED
      errors.push([i, ...failure(error)])
      continue
    }
    if (info === undefined) {
      numbers[4 * i] = STATUS_STAT_FAILED
      errors.push([i, 'ENOENT', `ENOENT: no such file or directory, stat '${paths[i]}'`])
      continue
    }
    const size = info.size
    const mtime = Math.floor(info.mtimeMs)
    const isFile = info.isFile()
    numbers[4 * i] = isFile ? STATUS_FILE : STATUS_OTHER
    numbers[4 * i + 1] = size
    numbers[4 * i + 2] = mtime
    if (isFile && wantsHash(batch, i, size, mtime)) toHash.push(i)
  }
  return {reply: {numbers, hashes, errors}, toHash}
}

/** The thread's rule: hash when asked to and no known [size, mtime] matches (or always with REHASH). */
function wantsHash(batch: ProbeBatch, i: number, size: number, mtime: number): boolean {
  const flags = batch.flags[i]!
  if (!(flags & HASH)) return false
  if (flags & REHASH) return true
  const k = batch.known
  return !((k[4 * i] === size && k[4 * i + 1] === mtime) || (k[4 * i + 2] === size && k[4 * i + 3] === mtime))
}

function failure(error: unknown): [string, string] {
  const e = error as {code?: string; message?: string} | null
  return [e?.code || 'ERROR', String(e?.message || error)]
}

/** The files at `at` as a batch of their own, with their flags and known states. */
function subBatch(batch: ProbeBatch, at: readonly number[]): ProbeBatch {
  const sub = newProbeBatch(at.map((i) => batch.paths[i]!))
  at.forEach((i, j) => {
    sub.flags[j] = batch.flags[i]!
    sub.known.set(batch.known.subarray(4 * i, 4 * i + 4), 4 * j)
  })
  return sub
}

/** The thread's findings for the files at `at` (stat again, then hashed) replace what the stat here found. */
function mergeHashed(reply: ProbeReply, at: readonly number[], hashed: ProbeReply): void {
  at.forEach((i, j) => {
    reply.numbers.set(hashed.numbers.subarray(4 * j, 4 * j + 4), 4 * i)
    reply.hashes[i] = hashed.hashes[j] ?? null
  })
  for (const [j, code, message] of hashed.errors) reply.errors.push([at[j]!, code, message])
}
