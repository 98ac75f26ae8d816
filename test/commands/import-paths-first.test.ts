import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

// Nothing listens on port 1: were the database opened first, this would be exit 4 (unreachable), not 2.
const UNREACHABLE = 'postgresql://postgres@127.0.0.1:1/nowhere'
const KNEE_TREE = path.join(PROJECT_ROOT, 'fixtures', 'knee-ae', 'v4-2026-01-29')
const STEMSET_TREE = path.join(PROJECT_ROOT, 'fixtures', 'stemset')

describe.each(['backfill-excel', 'import-json'])(
  'aedb %s checks its paths before the database',
  (command) => {
    it('exits 2 naming the missing path, whatever the database', async () => {
      const missing = '/nonexistent/aedb-logs'
      const run = await runCli([command, 'fixtures', missing, '--database-url', UNREACHABLE, '--json'])
      expect(run.exitCode, run.stderr).toBe(2)
      const error = (JSON.parse(run.stdout) as {error: {code: string; message: string}}).error
      expect(error.code).toBe('PATH_NOT_FOUND')
      expect(error.message).toContain(missing)
    })
  },
)

describe.each(testBackends())('aedb backfill-excel on a folder without workbooks (%s)', (backend) => {
  it('exits 3 saying what it expected, so cron notices', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'aedb-empty-'))
    const testDb = await createTestDatabase(backend)
    try {
      const run = await runCli(['backfill-excel', empty, '--database-url', testDb.url])
      expect(run.exitCode, run.stderr).toBe(3)
      expect(run.stderr).toContain('no .xlsx workbooks found; expected a study folder')
    } finally {
      await testDb.drop()
      await rm(empty, {recursive: true, force: true})
    }
  })
})

describe.each(testBackends())(
  'a tree of the other kind is refused, and nothing found is exit 3 (%s)',
  (backend) => {
    let testDb: TestDatabase
    let empty: string

    beforeAll(async () => {
      testDb = await createTestDatabase(backend)
      empty = await mkdtemp(path.join(tmpdir(), 'aedb-empty-'))
    })

    afterAll(async () => {
      await testDb?.drop()
      if (empty) await rm(empty, {recursive: true, force: true})
    })

    async function importedAnything(): Promise<boolean> {
      const open = await testDb.open()
      try {
        const counts = await Promise.all([
          ...(['profiles', 'recordings', 'participants'] as const).map((table) =>
            open.db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow(),
          ),
          open.db
            .selectFrom('runs')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('command', 'in', ['import-json', 'backfill-excel'])
            .executeTakeFirstOrThrow(),
        ])
        return counts.some((c) => Number(c.n) > 0)
      } finally {
        await open.close()
      }
    }

    it('import-json on a tree of Excel logs: exit 3, says what it expected and what it found', async () => {
      const run = await runCli(['import-json', KNEE_TREE, '--json', '--database-url', testDb.url])
      expect(run.exitCode, run.stderr).toBe(3)
      const error = (
        JSON.parse(run.stdout) as {error: {code: string; message: string; suggestions: string[]}}
      ).error
      expect(error.code).toBe('WRONG_KIND_OF_TREE')
      expect(error.message).toMatch(/^no metadata\.json found under .*, but Excel workbooks \(.*\.xlsx\); /)
      expect(error.message).toContain('this looks like a tree of Excel logs: use `aedb backfill-excel`')
      expect(await importedAnything()).toBe(false)
    })

    it('backfill-excel on a stem-separation tree: exit 3, says what it expected and what it found', async () => {
      const run = await runCli(['backfill-excel', STEMSET_TREE, '--database-url', testDb.url])
      expect(run.exitCode, run.stderr).toBe(3)
      expect(run.stderr).toMatch(/no \.xlsx workbooks found under .*, but (metadata\.json|config\.yaml) \(/)
      expect(run.stderr).toContain('this looks like a stem-separation tree: use `aedb import-json`')
      expect(await importedAnything()).toBe(false)
    })

    it('import-json finding nothing to import exits 3, saying what it expected', async () => {
      const run = await runCli(['import-json', empty, '--database-url', testDb.url])
      expect(run.exitCode, run.stderr).toBe(3)
      expect(run.stderr).toContain('no recordings found; expected the folder holding config.yaml and media/')
    })
  },
)
