import {sql} from 'kysely'
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {MIGRATIONS} from '../../src/db/migrations.js'
import {MIGRATION_LOCK_KEY, MIGRATION_TABLE} from '../../src/db/migrator.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {type CliResult, runCli} from '../support/run-cli.js'
import {snapshotCatalog} from './catalog.js'
import {withTestDatabase} from './with-test-database.js'

// Only a server has concurrent sessions: PGlite is one process with one connection, guarded by a folder lock.
describe.runIf(testBackends().includes('postgres'))('migrate against concurrent sessions on postgres', () => {
  let fresh: TestDatabase
  let migrated: TestDatabase

  beforeAll(async () => {
    fresh = await createTestDatabase('postgres', {migrated: false})
    await withTestDatabase(fresh, async () => {}) // CREATE DATABASE, nothing in it
    migrated = await createTestDatabase('postgres')
  })

  afterAll(async () => {
    await fresh?.drop()
    await migrated?.drop()
  })

  it('two `migrate up` started together both succeed and apply each migration exactly once', async () => {
    // Park both processes at the lock, then let them go at the same moment: without this they start ~seconds
    // apart (tsx start-up) and would rarely overlap. A run that read its status before taking the lock would
    // now apply the migration twice and fail.
    const holder = await lockHolder(fresh.url)
    let results: CliResult[]
    try {
      const running = Promise.all([
        runCli(['migrate', 'up', '--json', '--lock-timeout', '120', '--database-url', fresh.url]),
        runCli(['migrate', 'up', '--json', '--lock-timeout', '120', '--database-url', fresh.url]),
      ])
      await waitForAedbSessions(holder, fresh.url, 2)
      await holder.query('select pg_advisory_unlock($1::int4, $2::int4)', [...MIGRATION_LOCK_KEY])
      results = await running
    } finally {
      await holder.end()
    }
    for (const result of results) expect(result.exitCode, result.stdout + result.stderr).toBe(0)
    const stepCounts = results.map((r) => JSON.parse(r.stdout).steps.length).sort()
    expect(stepCounts).toEqual([0, MIGRATIONS.length])

    await withTestDatabase(fresh, async (db) => {
      const applied = await sql<{name: string; n: number}>`
        select name, count(*)::int as n from ${sql.table(MIGRATION_TABLE)} group by name order by name`.execute(
        db,
      )
      expect(applied.rows).toEqual(MIGRATIONS.map((m) => ({name: m.name, n: 1})))

      const runs = await db.selectFrom('runs').select(['command', 'outcome', 'counts']).execute()
      expect(runs).toHaveLength(2)
      expect(runs.every((r) => r.command === 'migrate' && r.outcome === 'succeeded')).toBe(true)
      expect(runs.map((r) => r.counts.up).sort()).toEqual([0, MIGRATIONS.length])
      expect(await db.selectFrom('audit_log').select('id').execute()).toEqual([])
    })
    const reference = await withTestDatabase(migrated, snapshotCatalog)
    expect(await withTestDatabase(fresh, snapshotCatalog)).toEqual(reference)
  })

  it('waits at most --lock-timeout for the migration lock, then names the session that holds it', async () => {
    const holder = await lockHolder(migrated.url)
    try {
      const pid = await backendPid(holder)

      const started = Date.now()
      const locked = await runCli([
        'migrate',
        'up',
        '--lock-timeout',
        '1',
        '--json',
        '--database-url',
        migrated.url,
      ])
      expect(locked.exitCode, locked.stderr).toBe(4)
      const {error} = JSON.parse(locked.stdout)
      expect(error.code).toBe('MIGRATION_LOCKED')
      expect(error.message).toContain(`server process ${pid}`)
      expect(error.message).toContain('aedb-test-lock-holder')
      expect(Date.now() - started).toBeLessThan(15_000)

      await holder.query('select pg_advisory_unlock($1::int4, $2::int4)', [...MIGRATION_LOCK_KEY])
      const free = await runCli([
        'migrate',
        'up',
        '--lock-timeout',
        '1',
        '--json',
        '--database-url',
        migrated.url,
      ])
      expect(free.exitCode, free.stderr).toBe(0)
    } finally {
      await holder.end()
    }
  })
})

/** A session of its own that holds the migration lock, named so the lock message can be checked. */
async function lockHolder(url: string): Promise<pg.Client> {
  const client = new pg.Client({connectionString: url, application_name: 'aedb-test-lock-holder'})
  await client.connect()
  await client.query('select pg_advisory_lock($1::int4, $2::int4)', [...MIGRATION_LOCK_KEY])
  return client
}

async function backendPid(client: pg.Client): Promise<number> {
  const {rows} = await client.query<{pid: number}>('select pg_backend_pid() as pid')
  return rows[0]!.pid
}

/** Waits until `count` aedb processes have a session open on the database (they are then waiting for the lock). */
async function waitForAedbSessions(client: pg.Client, url: string, count: number): Promise<void> {
  const database = new URL(url).pathname.slice(1)
  const deadline = Date.now() + 60_000
  for (;;) {
    const {rows} = await client.query<{n: number}>(
      `select count(*)::int as n from pg_stat_activity where datname = $1 and application_name like 'aedb (pid %'`,
      [database],
    )
    if ((rows[0]?.n ?? 0) >= count) return
    if (Date.now() > deadline) throw new Error(`${count} aedb processes never connected to ${database}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
