import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../src/db/connection.js'
import {toArrayLiteral} from '../../src/db/upsert-rows.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'

describe.each(testBackends())('array literals of upsertRows (%s)', (backend) => {
  let database: TestDatabase
  let open: OpenDatabase

  beforeAll(async () => {
    database = await createTestDatabase(backend)
    open = await database.open()
  })

  afterAll(async () => {
    await open?.close()
    await database?.drop()
  })

  it('carry every value as its text, numbers unquoted', async () => {
    const values: unknown[] = [
      'plain',
      'a "quoted" \\ value',
      '',
      'NULL',
      ' spaced ',
      '{,}',
      1.5,
      -0,
      1e21,
      5e-324,
      Number.NaN,
    ]
    values.push(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, true, false, null)
    const {rows} = await sql<{
      v: Array<string | null>
    }>`select ${toArrayLiteral(values)}::text[] as v`.execute(open.db)
    expect(rows[0]!.v).toEqual([
      'plain',
      'a "quoted" \\ value',
      '',
      'NULL',
      ' spaced ',
      '{,}',
      '1.5',
      '0',
      '1e+21',
      '5e-324',
      'NaN',
      'Infinity',
      '-Infinity',
      't',
      'f',
      null,
    ])
  })
})
