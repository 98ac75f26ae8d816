import {type Kysely, sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {MIGRATIONS} from '../../src/db/migrations.js'
import {
  getMigrationStatus,
  MIGRATION_TABLE,
  type MigrationModule,
  migrateDown,
  migrateUp,
  migrationChecksum,
  type NamedMigration,
} from '../../src/db/migrator.js'
import {type Database, TABLES} from '../../src/db/schema.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {runCli} from '../support/run-cli.js'
import {type CatalogSnapshot, isEmptyCatalog, snapshotCatalog, tableNames} from './catalog.js'
import {databaseExists, withTestDatabase} from './with-test-database.js'

/** Every shipped migration, oldest first: the test holds for however many there are. */
const NAMES = MIGRATIONS.map((m) => m.name)
const INITIAL = MIGRATIONS[0]!
const INITIAL_FILE = `migrations/${INITIAL.name}.ts`
const NEWEST = MIGRATIONS.at(-1)!
/** The shipped migrations after the first (empty when only one ships). */
const LATER = MIGRATIONS.slice(1)
const reversed = (names: readonly string[]) => [...names].reverse()

function createTableMigration(name: string, table: string): NamedMigration {
  return {
    name,
    module: {
      up: async (db) => {
        await sql`create table ${sql.table(table)} (id integer primary key)`.execute(db)
      },
      down: async (db) => {
        await sql`drop table ${sql.table(table)}`.execute(db)
      },
    },
  }
}

// Synthetic migrations sort after every shipped one (a 2099 timestamp), as a future release's would.
const SECOND = createTableMigration('20990101000001_add_probe_a', 'probe_a')
const THIRD = createTableMigration('20990101000002_add_probe_b', 'probe_b')

/** The shipped initial migration under its own name, but with one more statement in `up`. */
const EDITED_INITIAL: NamedMigration = {
  name: INITIAL.name,
  module: {
    up: async (db) => {
      await INITIAL.module.up(db)
      await sql`create index studies_name_idx on studies (name)`.execute(db)
    },
    down: INITIAL.module.down!,
  } satisfies MigrationModule,
}

/** A migration after the shipped ones that creates a table, fills it, then fails. */
const FAILS_HALF_WAY: NamedMigration = {
  name: '20990101000001_fails_half_way',
  module: {
    up: async (db) => {
      await sql`create table half_done (id integer primary key)`.execute(db)
      await sql`insert into half_done values (1)`.execute(db)
      await sql`select 1 / 0`.execute(db)
    },
  },
}

function cli(database: TestDatabase, ...args: string[]) {
  return runCli([...args, '--database-url', database.url])
}

async function appliedNames(db: Kysely<Database>, migrations: readonly NamedMigration[] = MIGRATIONS) {
  return (await getMigrationStatus(db, migrations)).applied.map((a) => a.name)
}

describe.each(testBackends())('migrate on %s', (backend) => {
  let migrated: TestDatabase
  let empty: TestDatabase
  /** The catalog of a database with every shipped migration applied. */
  let reference: CatalogSnapshot

  beforeAll(async () => {
    migrated = await createTestDatabase(backend)
    empty = await createTestDatabase(backend, {migrated: false})
    await withTestDatabase(empty, async () => {}) // creates the folder or server database, nothing in it
    reference = await withTestDatabase(migrated, snapshotCatalog)
  })

  afterAll(async () => {
    await migrated?.drop()
    await empty?.drop()
  })

  it('has a reference catalog worth comparing', () => {
    const tables = reference.relations.filter((r) => r.kind === 'r').map((r) => r.name)
    expect(tables.sort()).toEqual([...TABLES, MIGRATION_TABLE].sort())
    expect(reference.constraints.some((c) => String(c.definition).includes('NULLS NOT DISTINCT'))).toBe(true)
    expect(reference.constraints.some((c) => c.type === 'c')).toBe(true)
    expect(reference.constraints.some((c) => String(c.definition).includes('ON DELETE CASCADE'))).toBe(true)
    expect(reference.indexes.length).toBeGreaterThan(TABLES.length)
    expect(reference.triggers.length).toBeGreaterThan(0)
    expect(reference.functions.map((f) => f.name)).toEqual(['aedb_audit', 'aedb_touch_updated_at'])
  })

  it('up, then down --to base, then up leaves an identical catalog; base leaves nothing at all', async () => {
    const down = await cli(migrated, 'migrate', 'down', '--to', 'base', '--json')
    expect(down.exitCode, down.stderr).toBe(0)
    expect(JSON.parse(down.stdout).steps.map((s: {name: string}) => s.name)).toEqual(reversed(NAMES))

    const atBase = await withTestDatabase(migrated, snapshotCatalog)
    expect(atBase.relations).toEqual([])
    expect(isEmptyCatalog(atBase)).toBe(true)

    const up = await cli(migrated, 'migrate', 'up', '--json')
    expect(up.exitCode, up.stderr).toBe(0)
    expect(JSON.parse(up.stdout).steps.map((s: {name: string}) => s.name)).toEqual(NAMES)
    expect(await withTestDatabase(migrated, snapshotCatalog)).toEqual(reference)
  })

  describe('an applied migration that changed', () => {
    it('stores the SHA-256 of each applied migration', async () => {
      const status = await withTestDatabase(migrated, (db) => getMigrationStatus(db, MIGRATIONS))
      const expected = []
      for (const m of MIGRATIONS) {
        expected.push({name: m.name, appliedAt: expect.any(String), checksum: await migrationChecksum(m)})
      }
      expect(status.applied).toEqual(expected)
      for (const applied of status.applied) expect(applied.checksum).toMatch(/^[0-9a-f]{64}$/)
      expect(new Set(status.applied.map((a) => a.checksum)).size).toBe(MIGRATIONS.length)
    })

    it('reports an edited migration by file name and blocks up', async () => {
      await withTestDatabase(migrated, async (db) => {
        const status = await getMigrationStatus(db, [EDITED_INITIAL, ...LATER])
        expect(status.problems).toEqual([
          {name: INITIAL.name, kind: 'edited', message: expect.stringContaining(INITIAL_FILE)},
        ])
        expect(status.pending).toEqual([])
        const withNewer = [EDITED_INITIAL, ...LATER, SECOND]
        const error = await migrateUp({db, migrations: withNewer}).catch((e: unknown) => e)
        expect(error).toMatchObject({
          code: 'MIGRATION_DRIFT',
          exit: 4,
          message: expect.stringContaining(INITIAL_FILE),
        })
        expect(await tableNames(db)).not.toContain('probe_a')
        expect(await appliedNames(db)).toEqual(NAMES)
      })
      expect(await withTestDatabase(migrated, snapshotCatalog)).toEqual(reference)
    })

    it('reports an applied migration missing from this version and blocks up', async () => {
      await withTestDatabase(migrated, async (db) => {
        const withoutInitial = [...LATER, SECOND]
        const status = await getMigrationStatus(db, withoutInitial)
        expect(status.problems).toEqual([
          {name: INITIAL.name, kind: 'missing', message: expect.stringContaining(INITIAL_FILE)},
        ])
        expect(status.pending).toEqual([SECOND.name])
        const error = await migrateUp({db, migrations: withoutInitial}).catch((e: unknown) => e)
        expect(error).toMatchObject({code: 'MIGRATION_DRIFT', exit: 4})
        expect(await tableNames(db)).not.toContain('probe_a')
      })
    })

    it('reports a new migration older than the newest applied as out-of-order and blocks up', async () => {
      const older = createTableMigration('20200101000000_add_probe_old', 'probe_old')
      await withTestDatabase(migrated, async (db) => {
        const status = await getMigrationStatus(db, [older, ...MIGRATIONS])
        expect(status.pending).toEqual([older.name])
        expect(status.problems).toEqual([
          {
            name: older.name,
            kind: 'out-of-order',
            message: expect.stringContaining(`migrations/${older.name}.ts`),
          },
        ])
        const error = await migrateUp({db, migrations: [older, ...MIGRATIONS]}).catch((e: unknown) => e)
        expect(error).toMatchObject({code: 'MIGRATION_DRIFT', exit: 4})
        expect(await tableNames(db)).not.toContain('probe_old')
      })
    })

    it('through the CLI: status names the edited file and exits 3, up exits 4 with MIGRATION_DRIFT', async () => {
      const zeros = '0'.repeat(64)
      await withTestDatabase(migrated, (db) =>
        sql`update ${sql.table(MIGRATION_TABLE)} set checksum = ${zeros} where name = ${INITIAL.name}`.execute(
          db,
        ),
      )
      try {
        const status = await cli(migrated, 'migrate', 'status', '--json')
        expect(status.exitCode, status.stderr).toBe(3)
        expect(JSON.parse(status.stdout).problems).toEqual([
          {name: INITIAL.name, kind: 'edited', message: expect.stringContaining(INITIAL_FILE)},
        ])

        const up = await cli(migrated, 'migrate', 'up', '--json')
        expect(up.exitCode, up.stderr).toBe(4)
        const {error} = JSON.parse(up.stdout)
        expect(error.code).toBe('MIGRATION_DRIFT')
        expect(error.message).toContain(INITIAL_FILE)
      } finally {
        await withTestDatabase(migrated, async (db) => {
          await sql`update ${sql.table(MIGRATION_TABLE)} set checksum = ${await migrationChecksum(INITIAL)}
            where name = ${INITIAL.name}`.execute(db)
        })
      }
    })
  })

  it('--dry-run prints the SQL and changes nothing, not even the bookkeeping table', async () => {
    const before = await withTestDatabase(empty, snapshotCatalog)
    expect(isEmptyCatalog(before)).toBe(true)

    const human = await cli(empty, 'migrate', 'up', '--dry-run')
    expect(human.exitCode, human.stderr).toBe(0)
    expect(human.stdout).toContain(`-- up: ${INITIAL_FILE}`)
    expect(human.stdout).toContain('create table processing_logs')
    for (const name of NAMES) expect(human.stdout).toContain(`-- up: migrations/${name}.ts`)
    expect(human.stdout).toContain(`Dry run: would apply ${NAMES.length} migration(s)`)

    const json = await cli(empty, 'migrate', 'up', '--dry-run', '--json')
    expect(json.exitCode, json.stderr).toBe(0)
    const result = JSON.parse(json.stdout)
    expect(result.dryRun).toBe(true)
    expect(result.steps.map((s: {name: string}) => s.name)).toEqual(NAMES)
    expect(result.steps[0].sql.some((s: string) => s.startsWith('create table runs'))).toBe(true)

    expect(await withTestDatabase(empty, snapshotCatalog)).toEqual(before)
  })

  it('status, down and --dry-run on a database that does not exist exit 4 and create nothing', async () => {
    const missing = await createTestDatabase(backend, {migrated: false})
    try {
      const results = await Promise.all([
        cli(missing, 'migrate', 'up', '--dry-run', '--json'),
        cli(missing, 'migrate', 'status', '--json'),
        cli(missing, 'migrate', 'down', '--json'),
      ])
      for (const result of results) {
        expect(result.exitCode, result.stderr).toBe(4)
        expect(JSON.parse(result.stdout).error.code).toBe('DATABASE_MISSING')
      }
      expect(await databaseExists(missing)).toBe(false)
    } finally {
      await missing.drop()
    }
  })

  it('down --dry-run prints the drops and changes nothing', async () => {
    const newest = await cli(migrated, 'migrate', 'down', '--dry-run', '--json')
    expect(newest.exitCode, newest.stderr).toBe(0)
    expect(JSON.parse(newest.stdout).steps.map((s: {name: string}) => s.name)).toEqual([NEWEST.name])

    const result = await cli(migrated, 'migrate', 'down', '--to', 'base', '--dry-run')
    expect(result.exitCode, result.stderr).toBe(0)
    for (const name of NAMES) expect(result.stdout).toContain(`-- down: migrations/${name}.ts`)
    expect(result.stdout).toContain('drop table if exists processing_logs')
    expect(await withTestDatabase(migrated, snapshotCatalog)).toEqual(reference)
  })

  it('runs each migration in its own transaction: a failure keeps the earlier ones and nothing of itself', async () => {
    await withTestDatabase(empty, async (db) => {
      const migrations = [...MIGRATIONS, FAILS_HALF_WAY]
      await expect(migrateUp({db, migrations})).rejects.toThrow(/division by zero/)
      const status = await getMigrationStatus(db, migrations)
      expect(status.applied.map((a) => a.name)).toEqual(NAMES)
      expect(status.pending).toEqual([FAILS_HALF_WAY.name])
      expect(await tableNames(db)).not.toContain('half_done')
    })
    expect(await withTestDatabase(empty, snapshotCatalog)).toEqual(reference)
    await withTestDatabase(empty, (db) => migrateDown({db, migrations: MIGRATIONS, to: 'base'}))
  })

  it('up --to, down --steps and down --to move exactly as far as asked', async () => {
    const migrations = [...MIGRATIONS, SECOND, THIRD]
    const names = (result: {steps: {name: string}[]}) => result.steps.map((s) => s.name)
    await withTestDatabase(empty, async (db) => {
      expect(names(await migrateUp({db, migrations, to: INITIAL.name}))).toEqual([INITIAL.name])
      expect(names(await migrateUp({db, migrations, to: SECOND.name}))).toEqual([
        ...LATER.map((m) => m.name),
        SECOND.name,
      ])
      expect(await tableNames(db)).toEqual(expect.arrayContaining(['probe_a']))
      expect(await tableNames(db)).not.toContain('probe_b')
      await expect(migrateUp({db, migrations, to: SECOND.name})).rejects.toMatchObject({
        code: 'MIGRATION_UNKNOWN_TARGET',
        exit: 2,
      })
      expect(names(await migrateUp({db, migrations}))).toEqual([THIRD.name])

      expect(names(await migrateDown({db, migrations, steps: 2}))).toEqual([THIRD.name, SECOND.name])
      expect(await appliedNames(db, migrations)).toEqual(NAMES)
      expect(names(await migrateDown({db, migrations}))).toEqual([NEWEST.name])
      expect(await appliedNames(db, migrations)).toEqual(NAMES.slice(0, -1))
      expect(names(await migrateDown({db, migrations, to: 'base'}))).toEqual(reversed(NAMES.slice(0, -1)))
      expect(await tableNames(db)).toEqual([])

      await migrateUp({db, migrations})
      expect(names(await migrateDown({db, migrations, to: SECOND.name}))).toEqual([THIRD.name])
      expect(names(await migrateDown({db, migrations, to: NEWEST.name}))).toEqual([SECOND.name])
      expect(await appliedNames(db, migrations)).toEqual(NAMES)
      await expect(migrateDown({db, migrations, to: THIRD.name})).rejects.toMatchObject({
        code: 'MIGRATION_UNKNOWN_TARGET',
        exit: 2,
      })
      expect(names(await migrateDown({db, migrations, to: 'base'}))).toEqual(reversed(NAMES))
      expect(isEmptyCatalog(await snapshotCatalog(db))).toBe(true)
    })
  })

  // Nine CLI runs one after another: more than the default timeout on a loaded machine.
  it('through the CLI: down --steps 1, up --to NAME, down --to NAME, and bad targets', {
    timeout: 600_000,
  }, async () => {
    const stepNames = (stdout: string) => JSON.parse(stdout).steps.map((s: {name: string}) => s.name)
    const downOne = await cli(migrated, 'migrate', 'down', '--steps', '1', '--json')
    expect(downOne.exitCode, downOne.stderr).toBe(0)
    expect(stepNames(downOne.stdout)).toEqual([NEWEST.name])
    expect(JSON.parse(downOne.stdout).status.applied.map((a: {name: string}) => a.name)).toEqual(
      NAMES.slice(0, -1),
    )
    if (LATER.length > 0) {
      // The CLI's own `up` above recorded a run: dropping the runs table needs --force (see migrate-down.test.ts).
      const downRest = await cli(
        migrated,
        'migrate',
        'down',
        '--steps',
        String(LATER.length),
        '--force',
        '--json',
      )
      expect(downRest.exitCode, downRest.stderr).toBe(0)
      expect(stepNames(downRest.stdout)).toEqual(reversed(NAMES.slice(0, -1)))
      expect(JSON.parse(downRest.stdout).status.applied).toEqual([])
    }
    expect(isEmptyCatalog(await withTestDatabase(migrated, snapshotCatalog))).toBe(true)

    const upTo = await cli(migrated, 'migrate', 'up', '--to', INITIAL.name, '--json')
    expect(upTo.exitCode, upTo.stderr).toBe(0)
    expect(stepNames(upTo.stdout)).toEqual([INITIAL.name])

    const upToNewest = await cli(migrated, 'migrate', 'up', '--to', NEWEST.name, '--json')
    expect(upToNewest.exitCode, upToNewest.stderr).toBe(0)
    expect(stepNames(upToNewest.stdout)).toEqual(LATER.map((m) => m.name))

    const downTo = await cli(migrated, 'migrate', 'down', '--to', NEWEST.name, '--json')
    expect(downTo.exitCode, downTo.stderr).toBe(0)
    expect(JSON.parse(downTo.stdout).steps).toEqual([])

    const unknown = await cli(migrated, 'migrate', 'down', '--to', '20990101000000_not_a_migration', '--json')
    expect(unknown.exitCode).toBe(2)
    expect(JSON.parse(unknown.stdout).error.code).toBe('MIGRATION_UNKNOWN_TARGET')

    const both = await cli(migrated, 'migrate', 'down', '--steps', '1', '--to', 'base')
    expect(both.exitCode).toBe(2)
    expect(both.stderr).toMatch(/--steps|--to/)

    expect(await withTestDatabase(migrated, snapshotCatalog)).toEqual(reference)
  })
})
