import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {createTestDatabase, testBackends} from '../support/backends.js'
import {runCli} from '../support/run-cli.js'

// Nothing listens on port 1: were the database opened first, this would be exit 4 (unreachable), not 2.
const UNREACHABLE = 'postgresql://postgres@127.0.0.1:1/nowhere'

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
