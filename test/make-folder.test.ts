import {existsSync} from 'node:fs'
import {mkdtemp, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {makeFolder} from '../src/make-folder.js'

describe('makeFolder', () => {
  let work: string
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aedb-make-folder-'))
  })
  afterAll(async () => {
    await rm(work, {recursive: true, force: true})
  })

  it('makes every missing level and accepts a folder that is already there', async () => {
    const deep = path.join(work, 'a', 'b', 'c')
    await makeFolder(deep)
    expect((await stat(deep)).isDirectory()).toBe(true)
    await makeFolder(deep)
    await makeFolder(path.join(work, 'a'))
    expect((await stat(deep)).isDirectory()).toBe(true)
  })

  it('refuses a file in the way, at the end or part-way', async () => {
    const file = path.join(work, 'file')
    await writeFile(file, 'x')
    await expect(makeFolder(file)).rejects.toMatchObject({code: 'EEXIST'})
    await expect(makeFolder(path.join(file, 'below'))).rejects.toMatchObject({code: 'ENOTDIR'})
  })

  // Node's recursive mkdir never returns here; the test times out if makeFolder loops the same way.
  it.runIf(existsSync('/proc/self'))(
    'fails at once under /proc, where a folder cannot be made',
    async () => {
      await expect(makeFolder('/proc/aedb-no-such/x')).rejects.toMatchObject({code: 'ENOENT'})
      await expect(makeFolder('/proc/aedb-no-such')).rejects.toMatchObject({code: 'ENOENT'})
    },
    5000,
  )
})
