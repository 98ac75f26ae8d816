import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, rm, utimes, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  createFileProber,
  type FileProber,
  HASH,
  newProbeBatch,
  type ProbeBatch,
  type ProbeReply,
  REHASH,
  setKnown,
  setProbe,
} from '../../src/files/file-prober.js'
import {type NativeStat, nativeStat} from '../../src/files/native-stat.js'
import {createStatProber} from '../../src/files/stat-prober.js'

// The stat-only prober stats on the calling thread and hands only the files to hash to a worker thread: its reply
// must be the one the worker threads give for the same batch, file by file.
describe('createStatProber', () => {
  let work: string
  const bytes = Buffer.from('the bytes of a recorded file\n')
  const mtime = Date.parse('2026-01-02T03:04:05.500Z')
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aedb-stat-prober-'))
    for (const name of ['known', 'changed', 'unflagged', 'rehashed']) {
      await writeFile(path.join(work, name), bytes)
      await utimes(path.join(work, name), mtime / 1000, mtime / 1000)
    }
    await mkdir(path.join(work, 'folder'))
  })
  afterAll(async () => {
    await rm(work, {recursive: true, force: true})
  })

  const names = ['known', 'changed', 'unflagged', 'missing', 'folder', 'known/below', 'rehashed']

  function batch(): ProbeBatch {
    const b = newProbeBatch(names.map((n) => path.join(work, n)))
    setProbe(b, 0, HASH)
    setKnown(b, 0, 0, bytes.length, mtime)
    setProbe(b, 1, HASH)
    setKnown(b, 1, 0, bytes.length + 1, mtime)
    setProbe(b, 3, HASH)
    setProbe(b, 4, HASH)
    setProbe(b, 5, HASH)
    setProbe(b, 6, HASH | REHASH)
    setKnown(b, 6, 1, bytes.length, mtime)
    return b
  }

  async function probeWith(prober: FileProber): Promise<ProbeReply> {
    try {
      return await prober.probe(await prober.acquire(), batch())
    } finally {
      await prober.close()
    }
  }

  // Both ways of stat'ing on this thread: the native batch stat (where built; the calls are counted, so a prober
  // that fell back to statSync fails) and Node's statSync.
  const native = nativeStat()
  let nativeCalls = 0
  const counted: NativeStat | null = native && {
    statManyAsync: (paths, out) => {
      nativeCalls++
      return native.statManyAsync(paths, out)
    },
  }
  const ways = [
    ...(counted ? [['the native batch stat', counted] as const] : []),
    ['statSync', null] as const,
  ]
  it.each(ways)(
    'gives the worker threads’ reply with %s: statuses, sizes, mtimes, hashes and errors',
    async (_, way) => {
      const callsBefore = nativeCalls
      const here = await probeWith(createStatProber(1, way))
      expect(nativeCalls - callsBefore).toBe(way ? 1 : 0)
      const threads = await probeWith(createFileProber(1))
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      const row = (r: ProbeReply, i: number) => Array.from(r.numbers.subarray(4 * i, 4 * i + 4))
      // status (0 file, 1 not a file, 2 stat failed), size, mtime, bytes hashed
      expect(row(here, 0)).toEqual([0, bytes.length, mtime, 0])
      expect(row(here, 1)).toEqual([0, bytes.length, mtime, bytes.length])
      expect(row(here, 2)).toEqual([0, bytes.length, mtime, 0])
      expect(row(here, 3)[0]).toBe(2)
      expect(row(here, 4)[0]).toBe(1)
      expect(row(here, 5)[0]).toBe(2)
      expect(row(here, 6)).toEqual([0, bytes.length, mtime, bytes.length])
      expect(here.hashes).toEqual([null, sha256, null, null, null, null, sha256])
      const byIndex = (r: ProbeReply) => [...r.errors].sort((a, b) => a[0] - b[0])
      expect(byIndex(here).map(([i, code]) => [i, code])).toEqual([
        [3, 'ENOENT'],
        [5, 'ENOTDIR'],
      ])
      expect(byIndex(here)[0]![2]).toBe(
        `ENOENT: no such file or directory, stat '${path.join(work, 'missing')}'`,
      )

      for (let i = 0; i < names.length; i++) expect(row(here, i)).toEqual(row(threads, i))
      expect(here.hashes).toEqual(threads.hashes)
      expect(byIndex(here)).toEqual(byIndex(threads))
    },
  )

  it.each(ways)(
    'with %s, keeps batches in flight and gives each its own reply; a slot given back unused is free again',
    async (_, way) => {
      const prober = createStatProber(2, way)
      try {
        // handOutPage's pattern: acquire, then probe without waiting; and an acquire given back when the run stops.
        for (let round = 0; round < 3; round++) prober.release(await prober.acquire())
        const pending: Array<Promise<ProbeReply>> = []
        for (let k = 0; k < 6; k++) pending.push(prober.probe(await prober.acquire(), batch()))
        const replies = await Promise.all(pending)
        const sha256 = createHash('sha256').update(bytes).digest('hex')
        for (const reply of replies) {
          expect(reply.hashes).toEqual([null, sha256, null, null, null, null, sha256])
          expect(reply.errors.map(([i, code]) => [i, code]).sort()).toEqual([
            [3, 'ENOENT'],
            [5, 'ENOTDIR'],
          ])
        }
      } finally {
        await prober.close()
      }
    },
  )
})
