import {readFile, rm, unlink, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {MIGRATIONS} from '../../src/db/migrations.js'
import {migrateDown} from '../../src/db/migrator.js'
import {testBackends} from '../support/backends.js'
import {runCli} from '../support/run-cli.js'
import {type ImportedSamples, importSamples} from '../verify/verify-samples.js'

describe.each(testBackends())('aedb verify (%s)', (backend) => {
  let s: ImportedSamples
  const stem = () => path.join(s.stemset, 'media', 'one', 'take_5_132df89d', 'vocals.opus')
  const verify = (...args: string[]) => runCli(['verify', '--database-url', s.database.url, ...args])

  beforeAll(async () => {
    s = await importSamples(backend)
    // The CLI opens the database itself (an embedded one admits one process at a time).
    await s.opened.close()
  })

  afterAll(async () => {
    await s?.database.drop()
    if (s) await rm(s.root, {recursive: true, force: true})
  })

  it('--json on a clean import: exit 0, one document of the documented shape', async () => {
    const result = await verify('--json')
    expect(result.exitCode, result.stderr).toBe(0)
    const json = JSON.parse(result.stdout)
    expect(Object.keys(json)).toEqual([
      'runId',
      'ok',
      'complete',
      'checked',
      'coverage',
      'findings',
      'resolved',
    ])
    expect(json).toMatchObject({ok: true, complete: true, resolved: []})
    expect(Object.keys(json.checked)).toEqual(['files', 'bytesHashed', 'rows'])
    expect(Object.keys(json.findings[0])).toEqual([
      'check',
      'code',
      'severity',
      'new',
      'table',
      'id',
      'path',
      'message',
      'checkedThisRun',
      'lastSeen',
    ])
    expect(json.findings.filter((f: {severity: string}) => f.severity === 'error')).toEqual([])
  })

  it('--ndjson: a deleted file is one error line, exit 3', async () => {
    const bytes = await readFile(stem())
    await unlink(stem())
    try {
      const result = await verify('--ndjson')
      expect(result.exitCode, result.stderr).toBe(3)
      const lines = result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
      const errors = lines.filter((l) => l.severity === 'error')
      expect(errors).toEqual([
        expect.objectContaining({
          check: 'files',
          code: 'FILE_MISSING',
          new: true,
          resolved: false,
          path: stem(),
        }),
      ])
      expect(lines.every((l) => typeof l.runId === 'string')).toBe(true)

      const quiet = await verify('--quiet')
      expect(quiet.exitCode).toBe(3)
      expect(quiet.stdout.trim().split('\n')).toEqual([
        expect.stringMatching(/^error {3}FILE_MISSING \[files\] /),
      ])

      const newOnly = await verify('--fail-on', 'new', '--quiet')
      expect(newOnly.exitCode).toBe(0)

      // Two time-limited runs check different files: the one that does not reach the deleted file still lists it
      // (new: false, checkedThisRun: false) and still exits 3.
      const limited = []
      for (let i = 0; i < 2; i++) {
        const run = await verify('--check', 'FILES', '--time-limit', '1ms', '--json')
        expect(run.exitCode, run.stderr).toBe(3)
        const json = JSON.parse(run.stdout)
        expect(json).toMatchObject({ok: false, complete: false})
        const missing = json.findings.filter((f: {code: string}) => f.code === 'FILE_MISSING')
        expect(missing).toEqual([expect.objectContaining({path: stem(), new: false})])
        limited.push(missing[0].checkedThisRun)
      }
      expect(limited).toContain(false)
    } finally {
      await writeFile(stem(), bytes)
    }
    const fixed = await verify()
    expect(fixed.exitCode, fixed.stderr).toBe(0)
    expect(fixed.stdout).toMatch(/check +code +severity +open +new +resolved/)
    expect(fixed.stdout).toContain('Resolved since the last run (1):')
    expect(fixed.stdout).toMatch(/FILE_MISSING \[files\] \(resolved\)/)
  })

  it('refuses a bad flag with exit 2 (the parsers are tested in test/verify/verify-options.test.ts)', async () => {
    const result = await verify('--check', 'files,bogus', '--json')
    expect(result.exitCode).toBe(2)
    expect(JSON.parse(result.stdout).error.message).toContain('bogus')
    const zero = await verify('--time-limit', '0s')
    expect(zero.exitCode).toBe(2)
    expect(zero.stderr).toContain('the limit must be more than zero')
    const both = await verify('--json', '--ndjson')
    expect(both.exitCode).toBe(2)
    expect(both.stderr + both.stdout).toMatch(/--ndjson/)
    expect(both.stderr + both.stdout).toMatch(/--json/)
  })

  it('--quiet --fail-on warning prints the known warnings that make it exit 3', async () => {
    await verify('--quiet')
    const quiet = await verify('--quiet', '--fail-on', 'warning')
    expect(quiet.exitCode).toBe(3)
    expect(quiet.stdout.trim()).not.toBe('')
    expect(quiet.stdout.trim().split('\n')[0]).toMatch(/^warning /)
    expect((await verify('--quiet')).stdout.trim()).toBe('')
  })

  it('exits 4 when the database is behind its migrations', async () => {
    const opened = await s.database.open()
    try {
      await migrateDown({db: opened.db, migrations: MIGRATIONS, steps: 1, force: true})
    } finally {
      await opened.close()
    }
    const result = await verify('--json')
    expect(result.exitCode).toBe(4)
    expect(JSON.parse(result.stdout).error.code).toBe('SCHEMA_BEHIND')
  })
})
