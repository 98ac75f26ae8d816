import {execFileSync} from 'node:child_process'
import {statSync} from 'node:fs'
import {mkdir, mkdtemp, rm, symlink, truncate, utimes, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {nativeStat} from '../../src/files/native-stat.js'

function nodeStat(p: string) {
  try {
    return statSync(p, {throwIfNoEntry: false})
  } catch {
    return undefined
  }
}

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
    execFileSync('touch', ['-d', '@1767323045.999999950', path.join(work, 'almost-next-ms')])
    await file('before-1970', 'x', -86_400.25)
    await file('name with spaces & ünïcödé – 音.xlsx', 'bytes')
    await writeFile(path.join(work, 'sparse'), '')
    await truncate(path.join(work, 'sparse'), 5 * 1024 ** 3)
    names.push('sparse')
    await mkdir(path.join(work, 'folder'))
    names.push('folder')
    await symlink(path.join(work, 'plain.wav'), path.join(work, 'link'))
    await symlink(path.join(work, 'nowhere'), path.join(work, 'dangling'))
    // Longer than the addon's first buffer (4 KiB), and a name longer than a file system allows.
    const deep = `${'folder/../'.repeat(500)}plain.wav`
    names.push('link', 'dangling', 'missing', 'plain.wav/below', 'folder/', '', deep, 'n'.repeat(300))
  })
  afterAll(async () => {
    await rm(work, {recursive: true, force: true})
  })

  it('is built on this machine (npm ci builds it; AEDB_NATIVE_STAT=0 turns it off)', () => {
    if (process.env.AEDB_NATIVE_STAT === '0') expect(nativeStat()).toBeNull()
    else expect(nativeStat()).not.toBeNull()
  })

  it.skipIf(process.env.AEDB_NATIVE_STAT === '0').each(['statMany', 'statManyAsync'] as const)(
    '%s gives statSync’s status, size and whole-ms mtime',
    async (way) => {
      const paths = names.map((name) => (name === '' ? '' : path.join(work, name)))
      const out = new Float64Array(4 * paths.length).fill(-1)
      await nativeStat()![way](paths, out)
      paths.forEach((p, i) => {
        const info = nodeStat(p)
        const got = Array.from(out.subarray(4 * i, 4 * i + 4))
        if (info === undefined) {
          expect([names[i], got[0], got[3]! > 0]).toEqual([names[i], 2, true])
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
      expect(out[4 * at('almost-next-ms') + 2]).toBe(1_767_323_046_000)
      expect(out[4 * at('link')]).toBe(0)
      expect(out[4 * at('folder')]).toBe(1)
    },
  )

  it.skipIf(process.env.AEDB_NATIVE_STAT === '0')(
    'refuses what is not paths and a Float64Array of 4 per path',
    async () => {
      const {statMany, statManyAsync} = nativeStat()!
      await expect(statManyAsync([work], new Float64Array(3))).rejects.toThrow(/four numbers per path/)
      expect(() => statMany([work, work], new Float64Array(7))).toThrow(/four numbers per path/)
      expect(() => statMany([work], new Float32Array(4) as unknown as Float64Array)).toThrow(/Float64Array/)
      // A NUL cannot be in a path (it separates them on the way to the addon): the batch is refused.
      const nul = [`${path.join(work, 'plain.wav')}\0tail`]
      expect(() => statMany(nul, new Float64Array(4))).toThrow(/separated by NUL/)
      await expect(statManyAsync(nul, new Float64Array(4))).rejects.toThrow(/separated by NUL/)
    },
  )
})
