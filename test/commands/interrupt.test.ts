import {cp, mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../src/db/connection.js'
import type {ImportResult} from '../../src/importers/import-session.js'
import {type BackendName, createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {snapshotData} from '../support/db-snapshot.js'
import {copyV4Participants} from '../support/knee-trees.js'
import {PROJECT_ROOT, type RunningCli, runCli} from '../support/run-cli.js'

const STEMSET = path.join(PROJECT_ROOT, 'fixtures', 'stemset')
const RECORDINGS = (
  JSON.parse(await readFile(path.join(STEMSET, 'manifest.json'), 'utf8')) as {recordings: unknown[]}
).recordings.length

/** True once the child holds the embedded database folder (its lock names it and is not released). */
async function holdsPglite(database: TestDatabase, child: RunningCli): Promise<boolean> {
  const lockDir = `${database.url.slice('pglite:'.length)}.locks`
  const names = await readdir(lockDir).catch(() => [] as string[])
  const owners = names.filter((n) => n.endsWith('.owner')).map((n) => Number.parseInt(n, 10))
  if (owners.length === 0) return false
  const newest = Math.max(...owners)
  if (names.includes(`${newest}.released`)) return false
  const owner = JSON.parse(await readFile(path.join(lockDir, `${newest}.owner`), 'utf8')) as {pid: number}
  return owner.pid === child.pid
}

/**
 * When to send the signal: on PostgreSQL once `table` has `rows` committed rows (mid-way through the writes); an
 * embedded database cannot be read while the import holds it, so there as soon as the import has opened it.
 */
function midImport(
  backend: BackendName,
  database: TestDatabase,
  watcher: () => OpenDatabase | null,
  table: string,
) {
  return async (child: RunningCli) => {
    if (backend === 'pglite') return holdsPglite(database, child)
    const {rows} = await sql<{n: number}>`select count(*)::int as n from ${sql.table(table)}`.execute(
      watcher()!.db,
    )
    return rows[0]!.n >= 2
  }
}

async function runsOf(database: TestDatabase) {
  const opened = await database.open()
  try {
    return await opened.db
      .selectFrom('runs')
      .select(['id', 'outcome', 'counts'])
      .orderBy('started_at')
      .execute()
  } finally {
    await opened.close()
  }
}

// Each test runs the CLI two or three times over real trees: far beyond the default timeout on a loaded machine.
describe.each(testBackends())('SIGINT and SIGTERM during an import, on %s', (backend) => {
  let knee: string
  let stemset: string
  let reference: Record<string, unknown[]>
  const databases: TestDatabase[] = []

  const fresh = async () => {
    const database = await createTestDatabase(backend)
    databases.push(database)
    return database
  }
  /** On PostgreSQL a second connection watches the import's commits; PGlite has only one process at a time. */
  const watch = async (database: TestDatabase) => (backend === 'postgres' ? database.open() : null)

  beforeAll(async () => {
    knee = await copyV4Participants(['1019', '1021', '2037'])
    stemset = await mkdtemp(path.join(tmpdir(), 'aedb-stemset-'))
    await cp(STEMSET, stemset, {recursive: true})
    const clean = await fresh()
    const run = await runCli(['backfill-excel', knee, '--json', '--database-url', clean.url])
    expect(run.exitCode, run.stderr).toBe(0)
    const opened = await clean.open()
    reference = await snapshotData(opened.db)
    await opened.close()
  }, 900_000)

  afterAll(async () => {
    for (const database of databases) await database.drop()
    for (const dir of [knee, stemset]) if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('backfill-excel: SIGINT commits what is in flight, emits the JSON, marks the run interrupted, exit 130; a re-run completes', {
    timeout: 900_000,
  }, async () => {
    const database = await fresh()
    const watcher = await watch(database)
    const interrupted = await runCli(
      ['backfill-excel', knee, '--jobs', '1', '--json', '--database-url', database.url],
      {
        killSignal: 'SIGINT',
        killWhen: midImport(backend, database, () => watcher, 'processing_logs'),
      },
    )
    await watcher?.close()
    expect(interrupted.exitCode, interrupted.stderr).toBe(130)
    expect(interrupted.stderr).toContain('SIGINT received: finishing the workbook in flight, then stopping')
    expect(interrupted.stderr).toContain('run the same command again to continue')
    const result = JSON.parse(interrupted.stdout) as ImportResult
    expect(result.interrupted).toBe(true)

    const opened = await database.open()
    const committed = (
      await sql<{n: number}>`select count(*)::int as n from processing_logs`.execute(opened.db)
    ).rows[0]!.n
    await opened.close()
    // What the document says was committed is what the database holds, and it is not everything.
    expect(committed).toBe(result.tables.processing_logs?.inserted ?? 0)
    expect(committed).toBeLessThan(reference.processing_logs!.length)
    if (backend === 'postgres') expect(committed).toBeGreaterThanOrEqual(2)
    expect(await runsOf(database)).toEqual([
      {id: result.runId, outcome: 'interrupted', counts: expect.objectContaining({interrupted: true})},
    ])

    const again = await runCli(['backfill-excel', knee, '--json', '--database-url', database.url])
    expect(again.exitCode, again.stderr).toBe(0)
    const reopened = await database.open()
    // Issue 9 item 4 (a knee log's layout depends on import order; fixed on the importer-data branch) makes a
    // knee log written across two runs 'v2' with another hash: until that merge, those two fields are left out.
    expect(await snapshotData(reopened.db)).toEqual(reference)
    await reopened.close()
    expect((await runsOf(database)).map((r) => r.outcome)).toEqual(['interrupted', 'succeeded'])
  })

  it('import-json: SIGTERM finishes the recording in flight, says so, exit 143; a re-run completes', {
    timeout: 900_000,
  }, async () => {
    const database = await fresh()
    const watcher = await watch(database)
    const interrupted = await runCli(
      ['import-json', stemset, '--jobs', '1', '--database-url', database.url],
      {
        killSignal: 'SIGTERM',
        killWhen: midImport(backend, database, () => watcher, 'recordings'),
      },
    )
    await watcher?.close()
    expect(interrupted.exitCode, interrupted.stderr).toBe(143)
    expect(interrupted.stderr).toContain('SIGTERM received: finishing the recording in flight, then stopping')
    expect(interrupted.stderr).toMatch(/Interrupted by SIGTERM: .* run the same command again to continue\./)
    expect(interrupted.stdout).toMatch(/recording\(s\) seen: \d+ imported/)
    const [run] = await runsOf(database)
    expect(run).toMatchObject({outcome: 'interrupted', counts: expect.objectContaining({interrupted: true})})

    const again = await runCli(['import-json', stemset, '--json', '--database-url', database.url])
    expect(again.exitCode, again.stderr).toBe(0)
    const result = JSON.parse(again.stdout) as ImportResult
    expect(result.files.imported + result.files.unchanged).toBe(RECORDINGS)
    const opened = await database.open()
    const recordings = (await sql<{n: number}>`select count(*)::int as n from recordings`.execute(opened.db))
      .rows[0]!.n
    await opened.close()
    expect(recordings).toBe(RECORDINGS)
  })

  it.runIf(backend === 'pglite')(
    'a second SIGINT stops at once (exit 130) and the next run still completes',
    {timeout: 900_000},
    async () => {
      const database = await fresh()
      const interrupted = await runCli(
        ['backfill-excel', knee, '--jobs', '1', '--database-url', database.url],
        {
          killSignal: 'SIGINT',
          repeatSignalAfterMs: 50,
          killWhen: midImport(backend, database, () => null, 'processing_logs'),
        },
      )
      expect(interrupted.exitCode, interrupted.stderr).toBe(130)
      expect(interrupted.stderr).toContain('SIGINT again: stopping at once.')
      expect(interrupted.stdout).not.toContain('workbook(s) seen')
      const again = await runCli(['backfill-excel', knee, '--json', '--database-url', database.url])
      expect(again.exitCode, again.stderr).toBe(0)
      const opened = await database.open()
      expect(await snapshotData(opened.db)).toEqual(reference)
      await opened.close()
    },
  )
})
