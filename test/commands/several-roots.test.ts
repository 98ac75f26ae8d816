import {cp, mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {ImportResult} from '../../src/importers/import-session.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {copyV4Participants, walkLogPath} from '../support/knee-trees.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

/**
 * Two copies of the same tree in one run: every file exists twice under the same relative path, so each message
 * must say which root it is under.
 */
describe.each(testBackends())('several roots in one run (%s)', (backend) => {
  let testDb: TestDatabase
  let parent: string

  beforeAll(async () => {
    testDb = await createTestDatabase(backend)
    parent = await mkdtemp(path.join(tmpdir(), 'aedb-roots-'))
  })

  afterAll(async () => {
    await testDb?.drop()
    if (parent) await rm(parent, {recursive: true, force: true})
  })

  it('backfill-excel names each file after the root it was given as', async () => {
    const first = await copyV4Participants(['1019'])
    const bad = walkLogPath(first, '3002')
    await mkdir(path.dirname(bad), {recursive: true})
    await writeFile(bad, 'Study ID,Knee Side\n3002,Left\n')
    const relative = path.relative(first, bad).split(path.sep).join('/')
    const a = path.join(parent, 'logs-a')
    const b = path.join(parent, 'logs-b')
    await cp(first, a, {recursive: true})
    await cp(first, b, {recursive: true})
    await rm(first, {recursive: true, force: true})

    const run = await runCli(['backfill-excel', a, `${b}/`, '--json', '--database-url', testDb.url])
    expect(run.exitCode, run.stderr).toBe(3)
    const result = JSON.parse(run.stdout) as ImportResult
    expect(result.rejected.map((r) => r.file).sort()).toEqual([`${a}/${relative}`, `${b}/${relative}`])
    const copies = result.warnings.filter((w) => w.message.includes('same bytes as'))
    expect(copies.length).toBeGreaterThan(0)
    for (const w of copies) expect(w.message).toMatch(new RegExp(`same bytes as ${a}/#1019/`))
  })

  it('import-json names each file after the root it was given as', async () => {
    const a = path.join(parent, 'stemset-a')
    const b = path.join(parent, 'stemset-b')
    const broken = path.join('media', 'one', 'take_5_132df89d', 'metadata.json')
    for (const root of [a, b]) {
      await cp(path.join(PROJECT_ROOT, 'fixtures', 'stemset'), root, {recursive: true})
      await writeFile(path.join(root, broken), '{"not": json')
    }
    const run = await runCli(['import-json', a, b, '--json', '--database-url', testDb.url])
    expect(run.exitCode, run.stderr).toBe(3)
    const result = JSON.parse(run.stdout) as ImportResult
    const rejected = result.rejected.filter((r) => r.file.endsWith('take_5_132df89d/metadata.json'))
    expect(rejected.map((r) => r.file).sort()).toEqual([`${a}/${broken}`, `${b}/${broken}`])
    for (const r of rejected) expect(r.message.startsWith(r.file) || !r.message.includes(broken)).toBe(true)
    const labelled = result.warnings.every((w) => w.file.startsWith(`${a}/`) || w.file.startsWith(`${b}/`))
    expect(labelled, JSON.stringify(result.warnings.map((w) => w.file))).toBe(true)
  })
})
