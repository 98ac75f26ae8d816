import {describe, expect, it} from 'vitest'
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
