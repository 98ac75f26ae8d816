import {cp, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {ImportResult} from '../../src/importers/import-session.js'
import {buildNastyTree, type NastyTree} from '../importers/json/stemset-trees.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

const FIXTURE = path.join(PROJECT_ROOT, 'fixtures', 'stemset')

describe.each(testBackends())('aedb import-json (%s)', (backend) => {
  let database: TestDatabase
  let tree: string
  let nasty: NastyTree

  beforeAll(async () => {
    database = await createTestDatabase(backend)
    tree = await mkdtemp(path.join(tmpdir(), 'aedb-cli-stemset-'))
    await cp(FIXTURE, tree, {recursive: true})
    nasty = await buildNastyTree()
  })

  afterAll(async () => {
    await database?.drop()
    if (tree) await rm(tree, {recursive: true, force: true})
    if (nasty) await rm(path.dirname(nasty.app), {recursive: true, force: true})
  })

  it('imports the sample tree: exit 0, one JSON document on stdout, nothing else', async () => {
    const result = await runCli(['import-json', tree, '--database-url', database.url, '--json'])
    expect(result.exitCode, result.stderr).toBe(0)
    const json = JSON.parse(result.stdout) as ImportResult
    expect(Object.keys(json)).toEqual([
      'runId',
      'dryRun',
      'files',
      'tables',
      'rejected',
      'warnings',
      'interrupted',
    ])
    expect(json.files).toEqual({seen: 10, imported: 10, unchanged: 0, rejected: 0, skipped: 0})
    expect(json.tables).toMatchObject({
      profiles: {inserted: 3},
      recordings: {inserted: 10},
      stems: {inserted: 36},
      source_audio: {inserted: 9},
    })
    expect(result.stderr).not.toMatch(/\[\d+\/\d+\]/)
    const opened = await database.open()
    try {
      const run = await opened.db
        .selectFrom('runs')
        .selectAll()
        .where('id', '=', json.runId)
        .executeTakeFirstOrThrow()
      expect(run).toMatchObject({command: 'import-json', outcome: 'succeeded'})
      expect(run.arguments).toContain('--json')
    } finally {
      await opened.close()
    }
  })

  it('prints a summary for humans, and a second run changes nothing', async () => {
    const result = await runCli(['import-json', path.join(tree, 'media'), '--database-url', database.url])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toContain('10 recording(s) seen: 0 imported, 10 unchanged, 0 recording(s) rejected')
    expect(result.stdout).toMatch(/stems\s+0\s+0\s+36\s+0/)
    expect(result.stderr).toMatch(/^database: /m)
  })

  it('exits 3 when recordings were rejected, listing each with its reason', async () => {
    const result = await runCli([
      'import-json',
      nasty.app,
      '--database-url',
      database.url,
      '--json',
      '--jobs',
      '2',
    ])
    expect(result.exitCode, result.stderr).toBe(3)
    const json = JSON.parse(result.stdout) as ImportResult
    expect(json.rejected).toHaveLength(10)
    expect(json.rejected.map((r) => r.code).sort()).toEqual([
      'INVALID_JSON',
      'INVALID_METADATA',
      'NOT_A_FILE',
      ...Array(7).fill('PATH_ESCAPE'),
    ])
    expect(json.files.imported).toBe(8)
    expect(result.stderr).toContain('warning: ')
  })

  it('-q prints nothing on stdout but keeps the rejections on stderr', async () => {
    const result = await runCli(['import-json', nasty.app, '--database-url', database.url, '-q'])
    expect(result.exitCode).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr).not.toMatch(/database: |warning: /)
    expect(result.stderr.trim().split('\n')).toHaveLength(10)
    expect(result.stderr).toContain('[PATH_ESCAPE]')
    // Each path once: `media/…/metadata.json is not valid JSON`, not `media/…/metadata.json: media/…/metadata.json …`.
    expect(result.stderr).toMatch(/^\S+\/metadata\.json is not valid JSON/m)
    expect(result.stderr).not.toMatch(/^(\S+): \1/m)
  })

  it('--max-errors stops starting recordings after that many rejections', async () => {
    const result = await runCli([
      'import-json',
      nasty.app,
      '--database-url',
      database.url,
      '--json',
      '--jobs',
      '1',
      '--max-errors',
      '1',
    ])
    expect(result.exitCode).toBe(3)
    const json = JSON.parse(result.stdout) as ImportResult
    expect(json.rejected).toHaveLength(1)
    expect(json.files.skipped).toBeGreaterThan(0)
    expect(json.warnings.map((w) => w.code)).toContain('MAX_ERRORS')
  })

  it('--dry-run reports and writes nothing', async () => {
    const fresh = await createTestDatabase(backend)
    try {
      const result = await runCli([
        'import-json',
        tree,
        '--database-url',
        fresh.url,
        '--dry-run',
        '--json',
        '-q',
      ])
      expect(result.exitCode, result.stderr).toBe(0)
      const json = JSON.parse(result.stdout) as ImportResult
      expect(json).toMatchObject({dryRun: true, tables: {recordings: {inserted: 10}}})
      const human = await runCli(['import-json', tree, '--database-url', fresh.url, '--dry-run'])
      expect(human.stdout).toContain('10 recording(s) seen: would import 10,')
      expect(human.stdout).toMatch(/recordings\s+10\s+0\s+0\s+0/)
      const opened = await fresh.open()
      try {
        expect(await opened.db.selectFrom('recordings').select('id').execute()).toEqual([])
        expect(await opened.db.selectFrom('runs').select('id').execute()).toEqual([])
      } finally {
        await opened.close()
      }
    } finally {
      await fresh.drop()
    }
  })

  it('exits 2 for a path that does not exist', async () => {
    const result = await runCli([
      'import-json',
      path.join(tree, 'nope'),
      '--database-url',
      database.url,
      '--json',
    ])
    expect(result.exitCode).toBe(2)
    expect(JSON.parse(result.stdout)).toMatchObject({error: {code: 'PATH_NOT_FOUND', exit: 2}})
  })

  it('has a summary, a description and examples', async () => {
    const result = await runCli(['import-json', '--help'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('EXAMPLES')
    for (const flag of ['--dry-run', '--jobs', '--max-errors', '--json', '--quiet'])
      expect(result.stdout).toContain(flag)
  })
})

describe('aedb import-json on a database whose schema is behind', () => {
  it('exits 4 and says to run aedb migrate', async () => {
    const database = await createTestDatabase('pglite', {migrated: false})
    try {
      // Never initialised: nothing is created, and the message says how to start.
      const missing = await runCli(['import-json', FIXTURE, '--database-url', database.url, '--json'])
      expect(missing.exitCode).toBe(4)
      expect(JSON.parse(missing.stdout).error.code).toBe('DATABASE_MISSING')
      expect(missing.stdout).toContain('aedb init')
      // Created but not migrated (an older schema): exit 4, run aedb migrate.
      const opened = await database.open()
      await opened.close()
      const result = await runCli(['import-json', FIXTURE, '--database-url', database.url, '--json'])
      expect(result.exitCode).toBe(4)
      expect(JSON.parse(result.stdout).error.code).toBe('SCHEMA_BEHIND')
      expect(result.stdout).toContain('aedb migrate')
    } finally {
      await database.drop()
    }
  })
})
