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
import {nativeStatMany, type StatMany} from './native-stat.js'

/**
 * A prober for stat-only passes: the files are stat'ed on the calling thread, a batch at a time between turns of the
 * event loop, and only a file that must be hashed (its size or mtime is not one whose hash is known) goes to a
 * worker thread, started when the first such file turns up. A stat is a short system call: on 2 cores the threads'
 * start (~40 ms of CPU each) and the hand-over of every batch cost more than the calls, and the calling thread
 * waits for the database's next page most of the time anyway. The reply is the one the threads would give.
 * `statMany` (default: the native batch stat where it was built, see native-stat.ts) stats a batch in one call.
 */
export function createStatProber(
  hashThreads: number,
  statMany: StatMany | null = nativeStatMany(),
): FileProber {
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
      const {reply, toHash} = statBatch(batch, statMany)
      if (toHash.length > 0) mergeHashed(reply, toHash, await hashOnThreads(subBatch(batch, toHash)))
      return reply
    },
    close: async () => {
      await threads?.close()
    },
  }
}

/**
 * What the worker thread's stat finds, and which files it would go on to hash. With the native batch stat: one call
 * for the batch and no object per file; a path it could not stat is asked of statSync again, for Node's own error
 * code and message (and in case the file appeared meanwhile).
 */
function statBatch(batch: ProbeBatch, statMany: StatMany | null): {reply: ProbeReply; toHash: number[]} {
  const {paths} = batch
  const numbers = new Float64Array(4 * paths.length)
  const hashes = new Array<string | null>(paths.length).fill(null)
  const errors: Array<[number, string, string]> = []
  const toHash: number[] = []
  statMany?.(paths, numbers)
  for (let i = 0; i < paths.length; i++) {
    if (statMany === null || numbers[4 * i] === STATUS_STAT_FAILED) {
      numbers[4 * i + 3] = 0
      if (!statOne(paths[i]!, i, numbers, errors)) continue
    }
    if (numbers[4 * i] === STATUS_FILE && wantsHash(batch, i, numbers[4 * i + 1]!, numbers[4 * i + 2]!)) {
      toHash.push(i)
    }
  }
  return {reply: {numbers, hashes, errors}, toHash}
}

/** Node's statSync of file i into the reply's numbers (or errors); false when stat failed. */
function statOne(
  path: string,
  i: number,
  numbers: Float64Array,
  errors: Array<[number, string, string]>,
): boolean {
  let info: Stats | undefined
  try {
    info = statSync(path, {throwIfNoEntry: false})
  } catch (error) {
    numbers[4 * i] = STATUS_STAT_FAILED
    errors.push([i, ...failure(error)])
    return false
  }
  if (info === undefined) {
    numbers[4 * i] = STATUS_STAT_FAILED
    errors.push([i, 'ENOENT', `ENOENT: no such file or directory, stat '${path}'`])
    return false
  }
  numbers[4 * i] = info.isFile() ? STATUS_FILE : STATUS_OTHER
  numbers[4 * i + 1] = info.size
  numbers[4 * i + 2] = Math.floor(info.mtimeMs)
  return true
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
