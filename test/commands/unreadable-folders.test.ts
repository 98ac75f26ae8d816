import {chmod, cp, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {copyV4Participants} from '../support/knee-trees.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

/**
 * Root reads any folder whatever its mode, and these tests run as root in CI. So the CLI runs as `nobody`
 * (spawn's uid/gid), which meets EACCES on a folder of mode 000 exactly as a user would; not root, it runs as is.
 */
const NOBODY = 65_534
const asRoot = process.getuid?.() === 0
const runAs = asRoot ? {uid: NOBODY, gid: NOBODY} : {}

/** Opens a folder tree (and the embedded database) to the user the CLI runs as. */
async function openUp(dir: string): Promise<void> {
  const {execFileSync} = await import('node:child_process')
  execFileSync('chmod', ['-R', 'a+rwX', dir])
}

describe.each(testBackends())('folders aedb may not read (%s)', (backend) => {
  let database: TestDatabase
  let scratch: string

  beforeAll(async () => {
    database = await createTestDatabase(backend)
    const target = database.target
    // The embedded database folder (and the temp folder above it) must be writable by the CLI's user too.
    if (target.backend === 'pglite' && target.dataDir) await openUp(path.dirname(target.dataDir))
    scratch = await mkdtemp(path.join(tmpdir(), 'aedb-unreadable-'))
    await chmod(scratch, 0o755)
  })
  afterAll(async () => {
    await database?.drop()
    if (scratch) await rm(scratch, {recursive: true, force: true})
  })

  it('backfill-excel rejects an unreadable sub-folder and imports the rest (exit 3)', async () => {
    const root = await copyV4Participants(['1019', '1021'])
    try {
      await openUp(root)
      await chmod(path.join(root, '#1021', 'Right Knee'), 0o000)
      const run = await runCli(['backfill-excel', root, '--database-url', database.url, '--json'], runAs)
      expect(run.exitCode, run.stderr).toBe(3)
      const result = JSON.parse(run.stdout)
      expect(result.rejected).toEqual([
        expect.objectContaining({
          file: '#1021/Right Knee',
          code: 'FOLDER_UNREADABLE',
          message: expect.stringContaining('EACCES: permission denied'),
        }),
      ])
      expect(result.files).toMatchObject({imported: 12, rejected: 1})
    } finally {
      await chmod(path.join(root, '#1021', 'Right Knee'), 0o755)
      await rm(root, {recursive: true, force: true})
    }
  })

  it('import-json rejects an unreadable recording folder as unreadable (exit 3)', async () => {
    const app = path.join(scratch, 'app')
    await cp(path.join(PROJECT_ROOT, 'fixtures', 'stemset'), app, {recursive: true})
    await openUp(app)
    const denied = path.join(app, 'media', 'one', 'Demo_3_final_aa830cb3')
    await chmod(denied, 0o000)
    try {
      const run = await runCli(['import-json', app, '--database-url', database.url, '--json'], runAs)
      expect(run.exitCode, run.stderr).toBe(3)
      const result = JSON.parse(run.stdout)
      expect(result.rejected).toEqual([
        expect.objectContaining({
          file: 'media/one/Demo_3_final_aa830cb3',
          message: expect.stringContaining('EACCES: permission denied'),
        }),
      ])
      expect(result.warnings.filter((w: {code: string}) => w.code === 'NOT_A_RECORDING')).toEqual([])
      expect(result.files.imported).toBeGreaterThan(0)
    } finally {
      await chmod(denied, 0o755)
    }
  })
})
