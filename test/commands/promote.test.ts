import {randomBytes} from 'node:crypto'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import type {PromoteResult} from '../../src/backup/promote-database.js'
import {openDatabase} from '../../src/db/connection.js'
import {parseDatabaseUrl} from '../../src/db/database-url.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {countAll} from '../support/db-snapshot.js'
import {adminQuery} from '../support/postgres.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

const STEMSET = path.join(PROJECT_ROOT, 'fixtures', 'stemset')

describe.skipIf(!testBackends().includes('postgres'))('aedb promote', () => {
  let source: TestDatabase
  let serverUrl: string
  let toUrl: string
  let name: string
  let exitCode: number
  let stdout: string
  let result: PromoteResult

  beforeAll(async () => {
    source = await createTestDatabase('pglite')
    const imported = await runCli(['import-json', STEMSET, '--json', '--database-url', source.url])
    expect(imported.exitCode, imported.stderr).toBe(0)
    serverUrl = inject('postgresUrl')!
    name = `aedb_t_${randomBytes(6).toString('hex')}`
    // The test server trusts local connections, so the password is ignored by it but must never be printed.
    const to = new URL(serverUrl)
    to.password = 's3cret-pw'
    to.username ||= 'postgres'
    to.pathname = `/${name}`
    toUrl = to.toString()
    const run = await runCli(['promote', '--to', toUrl, '--json', '--database-url', source.url])
    exitCode = run.exitCode
    stdout = run.stdout
    result = JSON.parse(run.stdout) as PromoteResult
  }, 300_000)

  afterAll(async () => {
    await source?.drop()
    if (name) await adminQuery(serverUrl, `drop database if exists ${name} with (force)`)
  })

  it('creates the server database and finds every table identical', () => {
    expect(exitCode).toBe(0)
    expect(result.restore.created).toBe(true)
    expect(result.identical).toBe(true)
    expect(result.restore.tables.map((t) => t.name)).toEqual(
      expect.arrayContaining(['stems', 'audit_log', 'runs']),
    )
  })

  it('prints the .env line with the password redacted, and the password nowhere', () => {
    expect(result.envLine).toBe(`AEDB_DATABASE_URL=${toUrl.replace('s3cret-pw', '***')}`)
    expect(result.passwordRedacted).toBe(true)
    expect(stdout).not.toContain('s3cret-pw')
  })

  it('row counts agree on both sides (the server has the promote run on top)', async () => {
    const counts = async (url: string) => {
      const opened = await openDatabase(parseDatabaseUrl(url, '--database-url'))
      try {
        return await countAll(opened.db)
      } finally {
        await opened.close()
      }
    }
    const before = await counts(source.url)
    const after = await counts(toUrl)
    expect(before.stems).toBe(36)
    expect(after).toEqual({...before, runs: (before.runs ?? 0) + 1})
  })
})
