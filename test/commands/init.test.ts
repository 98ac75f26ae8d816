import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {MIGRATIONS} from '../../src/db/migrations.js'
import {migrationChecksum} from '../../src/db/migrator.js'
import {TABLES} from '../../src/db/schema.js'
import {isEmptyCatalog, snapshotCatalog} from '../db/catalog.js'
import {databaseExists, withTestDatabase} from '../db/with-test-database.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {type CliResult, PROJECT_ROOT, runCli} from '../support/run-cli.js'

const LATEST = MIGRATIONS.at(-1)!.name
const SECRET = 's3cr3t-pw'

function withPassword(url: string, password = SECRET): string {
  const parsed = new URL(url)
  parsed.password = password
  return parsed.toString()
}

function expectNoSecret(...results: CliResult[]) {
  for (const result of results) {
    expect(result.stdout).not.toContain(SECRET)
    expect(result.stderr).not.toContain(SECRET)
  }
}

async function runRows(database: TestDatabase) {
  return withTestDatabase(database, (db) =>
    db.selectFrom('runs').selectAll().orderBy('started_at').orderBy('id').execute(),
  )
}

describe.each(testBackends())('init on %s', (backend) => {
  let migrated: TestDatabase
  let version: string

  beforeAll(async () => {
    migrated = await createTestDatabase(backend)
    version = JSON.parse(await readFile(path.join(PROJECT_ROOT, 'package.json'), 'utf8')).version
  })

  afterAll(async () => {
    await migrated?.drop()
  })

  it('creates a database that does not exist, applies every migration, reports it and records a run', async () => {
    const fresh = await createTestDatabase(backend, {migrated: false})
    try {
      expect(await databaseExists(fresh)).toBe(false)
      const first = await runCli(['init', '--json', '--database-url', fresh.url])
      expect(first.exitCode, first.stderr).toBe(0)
      const report = JSON.parse(first.stdout)
      expect(Object.keys(report).sort()).toEqual(
        [
          'applied',
          'backend',
          'created',
          'location',
          'pending',
          'problems',
          'schemaVersion',
          'tables',
        ].sort(),
      )
      expect(report).toEqual({
        backend,
        location: fresh.target.redacted,
        created: true,
        schemaVersion: LATEST,
        applied: MIGRATIONS.map((m) => m.name),
        pending: 0,
        problems: [],
        // The run of this init, and the schema fingerprint its migrations recorded for verify.
        tables: Object.fromEntries(
          TABLES.map((t) => [t, t === 'runs' || t === 'verify_schema_fingerprints' ? 1 : 0]),
        ),
      })
      expect(Object.keys(report.tables)).toEqual(TABLES)
      expect(await databaseExists(fresh)).toBe(true)

      const again = await runCli(['init', '--json', '--database-url', fresh.url])
      expect(again.exitCode, again.stderr).toBe(0)
      expect(JSON.parse(again.stdout)).toMatchObject({
        created: false,
        applied: [],
        pending: 0,
        tables: {runs: 2},
      })

      const runs = await runRows(fresh)
      expect(runs).toHaveLength(2)
      expect(runs[0]).toMatchObject({
        command: 'init',
        outcome: 'succeeded',
        arguments: ['--json', '--database-url', fresh.url],
        aedb_version: version,
        counts: {migrationsApplied: MIGRATIONS.length},
      })
      expect(runs[0]!.finished_at).toBeInstanceOf(Date)
      expect(runs[1]).toMatchObject({command: 'init', outcome: 'succeeded', counts: {migrationsApplied: 0}})
    } finally {
      await fresh.drop()
    }
  })

  it('init --check on a migrated database changes nothing and exits 0', async () => {
    const before = await withTestDatabase(migrated, snapshotCatalog)
    const runsBefore = await runRows(migrated)
    const result = await runCli(['init', '--check', '--json', '--database-url', migrated.url])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({
      backend,
      created: false,
      schemaVersion: LATEST,
      applied: [],
      pending: 0,
      problems: [],
    })
    expect(await runRows(migrated)).toEqual(runsBefore)
    expect(await withTestDatabase(migrated, snapshotCatalog)).toEqual(before)
  })

  it('init --check exits 4 when migrations are pending, and changes nothing', async () => {
    const empty = await createTestDatabase(backend, {migrated: false})
    try {
      await withTestDatabase(empty, async () => {}) // exists, but nothing applied
      const result = await runCli(['init', '--check', '--json', '--database-url', empty.url])
      expect(result.exitCode, result.stderr).toBe(4)
      expect(JSON.parse(result.stdout)).toMatchObject({
        backend,
        schemaVersion: null,
        applied: [],
        pending: MIGRATIONS.length,
        tables: {},
      })
      expect(isEmptyCatalog(await withTestDatabase(empty, snapshotCatalog))).toBe(true)

      const human = await runCli(['init', '--check', '--database-url', empty.url])
      expect(human.exitCode).toBe(4)
      expect(human.stderr).toContain('aedb migrate')
    } finally {
      await empty.drop()
    }
  })

  it('init --check exits 4 with DATABASE_MISSING when the database does not exist, and creates nothing', async () => {
    const missing = await createTestDatabase(backend, {migrated: false})
    try {
      const result = await runCli(['init', '--check', '--json', '--database-url', missing.url])
      expect(result.exitCode, result.stderr).toBe(4)
      const {error} = JSON.parse(result.stdout)
      expect(error.code).toBe('DATABASE_MISSING')
      expect(error.message).toContain(missing.target.redacted)
      expect(error.suggestions.join(' ')).toContain('aedb init')
      expect(await databaseExists(missing)).toBe(false)
    } finally {
      await missing.drop()
    }
  })

  it('migrate status --json is exactly {applied: [{name, appliedAt, checksum}], pending, problems}', async () => {
    const result = await runCli(['migrate', 'status', '--json', '--database-url', migrated.url])
    expect(result.exitCode, result.stderr).toBe(0)
    const status = JSON.parse(result.stdout)
    expect(Object.keys(status).sort()).toEqual(['applied', 'pending', 'problems'])
    expect(status).toEqual({
      applied: await Promise.all(
        MIGRATIONS.map(async (m) => ({
          name: m.name,
          appliedAt: expect.any(String),
          checksum: await migrationChecksum(m),
        })),
      ),
      pending: [],
      problems: [],
    })
    for (const applied of status.applied) {
      expect(Object.keys(applied).sort()).toEqual(['appliedAt', 'checksum', 'name'])
      expect(new Date(applied.appliedAt).toISOString()).toBe(applied.appliedAt)
      expect(Date.now() - Date.parse(applied.appliedAt)).toBeLessThan(24 * 3600 * 1000)
    }
  })
})

describe('a password in the database URL never leaks', () => {
  const postgres = testBackends().includes('postgres')

  it('when the server refuses the connection: exit 4, DATABASE_UNREACHABLE, URL redacted', async () => {
    const url = `postgresql://postgres:${SECRET}@127.0.0.1:1/aedb`
    const [json, human, migrate] = await Promise.all([
      runCli(['init', '--json', '--database-url', url]),
      runCli(['init', '--database-url', url]),
      runCli(['migrate', 'status'], {env: {AEDB_DATABASE_URL: url}}),
    ])
    for (const result of [json, human, migrate]) expect(result.exitCode, result.stderr).toBe(4)
    const {error} = JSON.parse(json.stdout)
    expect(error).toMatchObject({code: 'DATABASE_UNREACHABLE', exit: 4})
    expect(error.message).toContain('postgresql://postgres:***@127.0.0.1:1/aedb')
    expect(human.stderr).toContain('postgresql://postgres:***@127.0.0.1:1/aedb')
    expectNoSecret(json, human, migrate)
  })

  it.runIf(postgres)(
    'when the server rejects the role or lacks the database: exit 4, URL redacted',
    async () => {
      const server = new URL(withPassword(inject('postgresUrl')!))
      const unknownRole = new URL(server)
      unknownRole.username = 'aedb_no_such_role'
      const missingDb = new URL(server)
      missingDb.pathname = '/aedb_no_such_database'
      const [refused, missing] = await Promise.all([
        runCli(['init', '--json', '--database-url', unknownRole.toString()]),
        runCli(['init', '--check', '--json', '--database-url', missingDb.toString()]),
      ])
      expect(refused.exitCode, refused.stderr).toBe(4)
      expect(JSON.parse(refused.stdout).error.code).toBe('DATABASE_REFUSED')
      expect(missing.exitCode, missing.stderr).toBe(4)
      expect(JSON.parse(missing.stdout).error.code).toBe('DATABASE_MISSING')
      expectNoSecret(refused, missing)
    },
  )

  it.runIf(postgres)('on success, in stdout, stderr, --json and the runs row', async () => {
    const database = await createTestDatabase('postgres', {migrated: false})
    try {
      const url = withPassword(database.url)
      const redacted = withPassword(database.url, '***')
      const json = await runCli(['init', '--json', '--database-url', url])
      expect(json.exitCode, json.stderr).toBe(0)
      expect(JSON.parse(json.stdout)).toMatchObject({backend: 'postgres', location: redacted, created: true})
      const [human, status, migrate] = await Promise.all([
        runCli(['init', '--database-url', url]),
        runCli(['migrate', 'status', '--database-url', url]),
        runCli(['migrate', '--json'], {env: {DATABASE_URL: url}}),
      ])
      for (const result of [human, status, migrate]) expect(result.exitCode, result.stderr).toBe(0)
      expect(human.stdout).toContain(redacted)
      expectNoSecret(json, human, status, migrate)

      const runs = await runRows(database)
      expect(runs.map((r) => r.command).sort()).toEqual(['init', 'init', 'migrate'])
      expect(JSON.stringify(runs)).not.toContain(SECRET)
      expect(runs[0]!.arguments).toEqual(['--json', '--database-url', redacted])
    } finally {
      await database.drop()
    }
  })
})
