import {type Stats, statSync} from 'node:fs'
import {constants} from 'node:os'
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
import {type NativeStat, nativeStat} from './native-stat.js'

/**
 * A prober for stat-only passes: the files are stat'ed on the calling thread, a batch at a time between turns of the
 * event loop, and only a file that must be hashed (its size or mtime is not one whose hash is known) goes to a
 * worker thread, started when the first such file turns up. A stat is a short system call: on 2 cores the threads'
 * start (~40 ms of CPU each) and the hand-over of every batch cost more than the calls, and the calling thread
 * waits for the database's next page most of the time anyway. The reply is the one the threads would give.
 * `native` (default: the native batch stat where it was built, see native-stat.ts) stats a batch in one call.
 */
export function createStatProber(hashThreads: number, native: NativeStat | null = nativeStat()): FileProber {
  let threads: FileProber | null = null
  const hashOnThreads = async (batch: ProbeBatch): Promise<ProbeReply> => {
    threads ??= createFileProber(hashThreads)
    return threads.probe(await threads.acquire(), batch)
  }
  const slots = native ? createSlots(NATIVE_BATCHES_IN_FLIGHT) : null
  return {
    // Natively: a free slot. Else a turn of the event loop before each batch, so the database's replies are read
    // while the files are stat'ed.
    acquire: () => slots?.acquire() ?? new Promise((resolve) => setImmediate(resolve)),
    release: () => slots?.release(),
    async probe(_slot, batch) {
      let stated: Stated
      try {
        stated = native ? await statBatchNative(batch, native) : statBatch(batch)
      } finally {
        // The slot is for the stat: the files to hash go to the hash threads, as many at once as there are threads.
        slots?.release()
      }
      const {reply, toHash} = stated
      if (toHash.length > 0) mergeHashed(reply, toHash, await hashOnThreads(subBatch(batch, toHash)))
      return reply
    },
    close: async () => {
      await threads?.close()
    },
  }
}

/**
 * Batches stat'ed natively at once, each on a thread of libuv's pool: one is stat'ed while the main thread judges
 * the last and reads pages, and a deadline stops the pass within two batches.
 */
const NATIVE_BATCHES_IN_FLIGHT = 2

/** `count` slots: acquire waits for a free one, release frees one. */
function createSlots(count: number): {acquire: () => Promise<unknown>; release: () => void} {
  let free = count
  const waiting: Array<() => void> = []
  return {
    acquire: () => {
      if (free > 0) {
        free--
        return Promise.resolve()
      }
      return new Promise<void>((resolve) => waiting.push(resolve))
    },
    release: () => {
      const next = waiting.shift()
      if (next) next()
      else free++
    },
  }
}

/** The batch stat'ed natively on a pool thread: no object per file. */
async function statBatchNative(batch: ProbeBatch, native: NativeStat): Promise<Stated> {
  // A path holding a NUL (it names no file) would split in two on the way: statSync reports it as it does anywhere.
  if (batch.paths.some((p) => p.includes('\0'))) return statBatch(batch)
  const numbers = new Float64Array(4 * batch.paths.length)
  await native.statManyAsync(batch.paths, numbers)
  return afterStat(batch, numbers, true)
}

/** What the worker thread's stat finds, and which files it would go on to hash. */
function statBatch(batch: ProbeBatch): Stated {
  return afterStat(batch, new Float64Array(4 * batch.paths.length), false)
}

interface Stated {
  reply: ProbeReply
  toHash: number[]
}

/** The reply from the stats in `numbers` (statSync's where `statted` is false, or it failed), and what to hash. */
function afterStat(batch: ProbeBatch, numbers: Float64Array, statted: boolean): Stated {
  const {paths} = batch
  const errors: Array<[number, string, string]> = []
  const toHash: number[] = []
  for (let i = 0; i < paths.length; i++) {
    if (!statted) {
      if (!statOne(paths[i]!, i, numbers, errors)) continue
    } else if (numbers[4 * i] === STATUS_STAT_FAILED) {
      if (!nativeFailure(paths[i]!, i, numbers, errors)) continue
    }
    if (numbers[4 * i] === STATUS_FILE && wantsHash(batch, i, numbers[4 * i + 1]!, numbers[4 * i + 2]!)) {
      toHash.push(i)
    }
  }
  return {reply: {numbers, hashes: new Array<string | null>(paths.length).fill(null), errors}, toHash}
}

const {ENOENT, ENOTDIR} = constants.errno

/**
 * A path the native stat could not stat: a missing file (ENOENT, ENOTDIR: every file of an unmounted disk) gets
 * Node's message from its errno, without a second system call; anything else is asked of statSync, for Node's own
 * error (and in case the file appeared meanwhile). False when it failed.
 */
function nativeFailure(
  path: string,
  i: number,
  numbers: Float64Array,
  errors: Array<[number, string, string]>,
): boolean {
  const errno = numbers[4 * i + 3]
  numbers[4 * i + 3] = 0
  if (errno === ENOENT) errors.push([i, 'ENOENT', `ENOENT: no such file or directory, stat '${path}'`])
  else if (errno === ENOTDIR) errors.push([i, 'ENOTDIR', `ENOTDIR: not a directory, stat '${path}'`])
  else return statOne(path, i, numbers, errors)
  return false
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
