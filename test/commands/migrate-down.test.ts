import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {deterministicId} from '../../src/db/deterministic-id.js'
import {MIGRATIONS} from '../../src/db/migrations.js'
import {startRun} from '../../src/db/runs.js'
import {isEmptyCatalog, snapshotCatalog, tableNames} from '../db/catalog.js'
import {withTestDatabase} from '../db/with-test-database.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {runCli} from '../support/run-cli.js'

const NEWEST = MIGRATIONS.at(-1)!.name
/** The migration whose down rewrites rows (interrupted runs become failed ones). */
const REWRITES_RUNS = '20261202000000_run_outcomes_and_commands'
const BEFORE_REWRITE = MIGRATIONS[MIGRATIONS.findIndex((m) => m.name === REWRITES_RUNS) - 1]!.name

async function counts(database: TestDatabase) {
  return withTestDatabase(database, async (db) => {
    const runs = await db
      .selectFrom('runs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst()
    const studies = await db
      .selectFrom('studies')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst()
    return {runs: Number(runs?.n), studies: Number(studies?.n), tables: (await tableNames(db)).length}
  })
}

describe.each(testBackends())('migrate down on a database holding rows, on %s', (backend) => {
  let database: TestDatabase
  /** Tables and views of the migrated database, before any test. */
  let relations: number
  const cli = (...args: string[]) => runCli([...args, '--database-url', database.url])

  beforeAll(async () => {
    database = await createTestDatabase(backend)
    await withTestDatabase(database, async (db) => {
      // Two runs (one interrupted, which the newest migration's down rewrites) and two studies.
      const first = await startRun({db, command: 'backfill-excel', argv: [], version: 'test'})
      await db
        .updateTable('runs')
        .set({outcome: 'interrupted', finished_at: sql<Date>`now()`})
        .where('id', '=', first)
        .execute()
      await startRun({db, command: 'import-json', argv: [], version: 'test'})
      for (const name of ['AOA', 'preOA'] as const) {
        await db
          .insertInto('studies')
          .values({id: deterministicId('study', name), name})
          .execute()
      }
      relations = (await tableNames(db)).length
    })
  })

  afterAll(async () => {
    await database?.drop()
  })

  it('the help says what down does to data', async () => {
    const help = await runCli(['migrate', '--help'])
    expect(help.exitCode, help.stderr).toBe(0)
    const text = help.stdout.replace(/\s+/g, ' ') // help wraps lines to the terminal width
    expect(text).toContain(
      'down destroys data: reverting the first migration drops every table with all its rows',
    )
    expect(text).toContain('--force Down: revert even when that drops or deletes rows.')
  })

  it('down --to base refuses without --force, naming every table with rows and its count, and changes nothing', async () => {
    const before = await withTestDatabase(database, snapshotCatalog)
    const result = await cli('migrate', 'down', '--to', 'base', '--json')
    expect(result.exitCode, result.stderr).toBe(2)
    const {error} = JSON.parse(result.stdout)
    expect(error.code).toBe('MIGRATION_DOWN_LOSES_DATA')
    expect(error.message).toContain('drop table runs (2 rows)')
    expect(error.message).toContain('drop table studies (2 rows)')
    expect(error.message).toContain('rewrite 1 row of runs')
    expect(error.message).not.toContain('drop table participants')
    expect(error.suggestions.join(' ')).toContain('--force')

    const human = await cli('migrate', 'down', '--to', 'base')
    expect(human.exitCode).toBe(2)
    expect(human.stderr).toContain('drop table studies (2 rows)')

    expect(await withTestDatabase(database, snapshotCatalog)).toEqual(before)
    expect(await counts(database)).toEqual({runs: 2, studies: 2, tables: relations})
  })

  it('down past the migration that rewrites rows refuses too (an interrupted run)', async () => {
    const result = await cli('migrate', 'down', '--to', BEFORE_REWRITE, '--json')
    expect(result.exitCode, result.stderr).toBe(2)
    const {error} = JSON.parse(result.stdout)
    expect(error.code).toBe('MIGRATION_DOWN_LOSES_DATA')
    expect(error.message).toBe(
      'Refusing to revert: it would rewrite 1 row of runs (1 rows in all). Nothing was changed.',
    )
  })

  it('--dry-run lists the rows each step would destroy and changes nothing', async () => {
    const result = await cli('migrate', 'down', '--to', 'base', '--dry-run', '--json')
    expect(result.exitCode, result.stderr).toBe(0)
    const steps = JSON.parse(result.stdout).steps as Array<{name: string; dataLoss: unknown[]}>
    const byName = Object.fromEntries(steps.map((s) => [s.name, s.dataLoss]))
    expect(byName[REWRITES_RUNS]).toContainEqual({
      migration: REWRITES_RUNS,
      table: 'runs',
      action: 'update',
      column: null,
      rows: 1,
    })
    expect(byName[MIGRATIONS[0]!.name]).toEqual(
      expect.arrayContaining([
        {migration: MIGRATIONS[0]!.name, table: 'runs', action: 'drop table', column: null, rows: 2},
        {migration: MIGRATIONS[0]!.name, table: 'studies', action: 'drop table', column: null, rows: 2},
      ]),
    )
    expect(await counts(database)).toEqual({runs: 2, studies: 2, tables: relations})
  })

  it('with no rows it would touch, down goes ahead without --force', async () => {
    await withTestDatabase(database, (db) =>
      sql`update runs set outcome = 'failed' where outcome = 'interrupted'`.execute(db),
    )
    const down = await cli('migrate', 'down', '--json')
    expect(down.exitCode, down.stderr).toBe(0)
    expect(JSON.parse(down.stdout).steps).toMatchObject([{name: NEWEST, dataLoss: []}])
    const up = await cli('migrate', 'up', '--json')
    expect(up.exitCode, up.stderr).toBe(0)
  })

  it('--force reverts everything', async () => {
    const result = await cli('migrate', 'down', '--to', 'base', '--force', '--json')
    expect(result.exitCode, result.stderr).toBe(0)
    expect(isEmptyCatalog(await withTestDatabase(database, snapshotCatalog))).toBe(true)
  })
})
