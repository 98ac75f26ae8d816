import {execFileSync} from 'node:child_process'
import {statSync} from 'node:fs'
import {mkdir, mkdtemp, rm, symlink, truncate, utimes, writeFile} from 'node:fs/promises'
import {constants, tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {nativeStat} from '../../src/files/native-stat.js'

function nodeError(p: string): keyof typeof constants.errno {
  try {
    statSync(p)
  } catch (error) {
    return (error as {code: keyof typeof constants.errno}).code
  }
  throw new Error(`${p} can be stat'ed`)
}

function nodeStat(p: string) {
  try {
    return statSync(p, {throwIfNoEntry: false})
  } catch {
    return undefined
  }
}

const native = nativeStat()
const turnedOff = process.env.AEDB_NATIVE_STAT === '0'
// .ci/run builds it (npm ci) and requires it; elsewhere a machine without a compiler skips these tests.
const required = process.env.AEDB_REQUIRE_NATIVE_STAT === '1' && !turnedOff

// The native batch stat must give exactly what Node's statSync gives (status, size, Math.floor(mtimeMs)) for
// every kind of path verify meets; verify's findings rest on the equality of these numbers with the imported ones.
describe('nativeStatMany', () => {
  let work: string
  const names: string[] = []
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aedb-native-stat-'))
    const file = async (name: string, bytes: string | Buffer, mtimeSeconds?: number) => {
      await writeFile(path.join(work, name), bytes)
      if (mtimeSeconds !== undefined) await utimes(path.join(work, name), mtimeSeconds, mtimeSeconds)
      names.push(name)
    }
    await file('plain.wav', 'RIFF....WAVE')
    await file('empty', '')
    // Sub-millisecond mtimes, one just below a whole millisecond: statSync's double arithmetic decides the floor.
    await file('fraction', 'x', 1_767_323_045.123_456)
    // 50 ns before a whole millisecond: statSync's mtimeMs rounds up to it (GNU touch sets nanoseconds).
    await file('almost-next-ms', 'x')
    if (process.platform === 'linux') {
      execFileSync('touch', ['-d', '@1767323045.999999950', path.join(work, 'almost-next-ms')])
    }
    await file('before-1970', 'x', -86_400.25)
    await file('name with spaces & ünïcödé – 音.xlsx', 'bytes')
    await writeFile(path.join(work, 'sparse'), '')
    await truncate(path.join(work, 'sparse'), 5 * 1024 ** 3)
    names.push('sparse')
    await mkdir(path.join(work, 'folder'))
    names.push('folder')
    await symlink(path.join(work, 'plain.wav'), path.join(work, 'link'))
    await symlink(path.join(work, 'nowhere'), path.join(work, 'dangling'))
    await symlink(path.join(work, 'loop'), path.join(work, 'loop'))
    // A lone surrogate cannot be encoded: both ways stat the name with U+FFFD in its place.
    await file('lone-\uFFFD-surrogate', 'x')
    // A path longer than PATH_MAX, and a name longer than a file system allows.
    const deep = `${'folder/../'.repeat(500)}plain.wav`
    names.push('link', 'dangling', 'loop', 'missing', 'plain.wav/below', 'folder/', '', deep, 'n'.repeat(300))
    names.push('lone-\uD800-surrogate')
  })
  afterAll(async () => {
    await rm(work, {recursive: true, force: true})
  })

  it.runIf(required)('is built (npm ci builds it; .ci/run requires it)', () => {
    expect(native).not.toBeNull()
  })

  it.runIf(turnedOff)('is not used with AEDB_NATIVE_STAT=0', () => {
    expect(native).toBeNull()
  })

  it.skipIf(native === null)('statManyAsync gives statSync’s status, size and whole-ms mtime', async () => {
    const paths = names.map((name) => (name === '' ? '' : path.join(work, name)))
    const out = new Float64Array(4 * paths.length).fill(-1)
    await native!.statManyAsync(paths, out)
    paths.forEach((p, i) => {
      const info = nodeStat(p)
      const got = Array.from(out.subarray(4 * i, 4 * i + 4))
      if (info === undefined) {
        // Failed, with the errno statSync failed with.
        expect([names[i], got[0], got[3]]).toEqual([names[i], 2, constants.errno[nodeError(p)]])
        return
      }
      expect([names[i], ...got]).toEqual([
        names[i],
        info.isFile() ? 0 : 1,
        info.size,
        Math.floor(info.mtimeMs),
        0,
      ])
    })
    const at = (name: string) => names.indexOf(name)
    expect(out[4 * at('sparse') + 1]).toBe(5 * 1024 ** 3)
    if (process.platform === 'linux') expect(out[4 * at('almost-next-ms') + 2]).toBe(1_767_323_046_000)
    expect(out[4 * at('lone-\uD800-surrogate')]).toBe(0)
    expect(out[4 * at('link')]).toBe(0)
    expect(out[4 * at('folder')]).toBe(1)
  })

  it.skipIf(native === null)(
    'rejects when `out` is detached before the stats are done, and goes on',
    async () => {
      const out = new Float64Array(4 * 2000)
      const paths = Array.from({length: 2000}, () => path.join(work, 'plain.wav'))
      const pending = native!.statManyAsync(paths, out)
      structuredClone(out.buffer, {transfer: [out.buffer]})
      await expect(pending).rejects.toThrow(/detached or shrunk/)
      const fresh = new Float64Array(4)
      await native!.statManyAsync([path.join(work, 'plain.wav')], fresh)
      expect(fresh[1]).toBe(12)
    },
  )

  it.skipIf(native === null)('refuses what is not paths and a Float64Array of 4 per path', async () => {
    const {statManyAsync} = native!
    await expect(statManyAsync([work], new Float64Array(3))).rejects.toThrow(/four numbers per path/)
    await expect(statManyAsync([work, work], new Float64Array(7))).rejects.toThrow(/four numbers per path/)
    await expect(statManyAsync([work], new Float32Array(4) as unknown as Float64Array)).rejects.toThrow(
      /Float64Array/,
    )
    // A NUL cannot be in a path (it separates them on the way to the addon): the batch is refused.
    const nul = [`${path.join(work, 'plain.wav')}\0tail`]
    await expect(statManyAsync(nul, new Float64Array(4))).rejects.toThrow(/separated by NUL/)
  })
})
