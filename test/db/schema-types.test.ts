import {type Kysely, sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {MIGRATION_TABLE} from '../../src/db/migrator.js'
import {SCHEMA} from '../../src/db/schema.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {withTestDatabase} from './with-test-database.js'

type LiveSchema = Record<string, Record<string, string>>

/** The live schema in SCHEMA's notation: `<udt>`, then `?` when nullable, then `=` when the database fills it. */
// biome-ignore lint/suspicious/noExplicitAny: reads whatever tables exist, including ones the types do not know.
async function introspectSchema(db: Kysely<any>): Promise<LiveSchema> {
  const {rows} = await sql<{
    table_name: string
    column_name: string
    udt_name: string
    is_nullable: 'YES' | 'NO'
    column_default: string | null
    is_identity: 'YES' | 'NO'
  }>`
    select c.table_name, c.column_name, c.udt_name, c.is_nullable, c.column_default, c.is_identity
    from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = current_schema() and t.table_type = 'BASE TABLE' and c.table_name <> ${MIGRATION_TABLE}
    order by c.table_name, c.ordinal_position`.execute(db)
  const live: LiveSchema = {}
  for (const row of rows) {
    const filled = row.column_default !== null || row.is_identity === 'YES'
    live[row.table_name] ??= {}
    live[row.table_name]![row.column_name] =
      `${row.udt_name}${row.is_nullable === 'YES' ? '?' : ''}${filled ? '=' : ''}`
  }
  return live
}

/** Every difference between the live schema and the SCHEMA object, both ways, one line each. */
function compareSchema(live: LiveSchema, declared: LiveSchema): string[] {
  const differences: string[] = []
  const tables = new Set([...Object.keys(live), ...Object.keys(declared)])
  for (const table of [...tables].sort()) {
    const liveColumns = live[table]
    const declaredColumns = declared[table]
    if (!liveColumns) {
      differences.push(`${table}: in SCHEMA, not in the database`)
      continue
    }
    if (!declaredColumns) {
      differences.push(`${table}: in the database, not in SCHEMA`)
      continue
    }
    const columns = new Set([...Object.keys(liveColumns), ...Object.keys(declaredColumns)])
    for (const column of [...columns].sort()) {
      const got = liveColumns[column]
      const want = declaredColumns[column]
      if (got === undefined) differences.push(`${table}.${column}: in SCHEMA (${want}), not in the database`)
      else if (want === undefined)
        differences.push(`${table}.${column}: in the database (${got}), not in SCHEMA`)
      else if (got !== want) differences.push(`${table}.${column}: database has ${got}, SCHEMA says ${want}`)
    }
  }
  return differences
}

const DECLARED = SCHEMA as unknown as LiveSchema

describe.each(testBackends())('the Kysely types match the live schema on %s', (backend) => {
  let database: TestDatabase

  beforeAll(async () => {
    database = await createTestDatabase(backend)
  })

  afterAll(async () => {
    await database?.drop()
  })

  it('every table and column, both ways, with udt, nullability and database-filled defaults', async () => {
    const live = await withTestDatabase(database, introspectSchema)
    expect(compareSchema(live, DECLARED)).toEqual([])
    expect(live).toEqual(DECLARED)
  })

  it('notices a stray table, a missing column, a changed type and a dropped default', async () => {
    await withTestDatabase(database, async (db) => {
      const rollback = new Error('rollback')
      let differences: string[] = []
      const outcome = await db
        .transaction()
        .execute(async (trx) => {
          await sql`create table stray (id uuid primary key)`.execute(trx)
          await sql`alter table studies drop column run_id`.execute(trx)
          // A column no view reads: a view's columns cannot change type under it.
          await sql`alter table audio_processing alter column channels type bigint`.execute(trx)
          await sql`alter table runs alter column outcome drop default`.execute(trx)
          await sql`alter table stems alter column stem_url set not null`.execute(trx)
          differences = compareSchema(await introspectSchema(trx), DECLARED)
          throw rollback
        })
        .catch((error: unknown) => error)
      expect(outcome).toBe(rollback)
      expect(differences).toEqual([
        'audio_processing.channels: database has int8?, SCHEMA says int4?',
        'runs.outcome: database has text, SCHEMA says text=',
        'stems.stem_url: database has text, SCHEMA says text?',
        'stray: in the database, not in SCHEMA',
        'studies.run_id: in SCHEMA (uuid?), not in the database',
      ])
      expect(compareSchema(await introspectSchema(db), DECLARED)).toEqual([])
    })
  })
})
