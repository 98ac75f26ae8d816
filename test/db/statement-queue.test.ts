import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../src/db/connection.js'
import {StatementQueue} from '../../src/db/statement-queue.js'
import {toArrayLiteral} from '../../src/db/upsert-rows.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'

describe.each(testBackends())('statements sent back to back (%s)', (backend) => {
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

  it('runs them in the order sent, inside the caller transaction', async () => {
    const order = await open.db.transaction().execute(async (trx) => {
      await sql`create temp table sent_order (n int) on commit drop`.execute(trx)
      const queue = new StatementQueue()
      for (let n = 1; n <= 5; n++)
        await queue.send(() => sql`insert into sent_order values (${n})`.execute(trx))
      const last = await queue.send(() =>
        sql<{n: number[]}>`select array_agg(n order by ctid) as n from sent_order`.execute(trx),
      )
      await queue.finish()
      return (await last.result).rows[0]!.n
    })
    expect(order).toEqual([1, 2, 3, 4, 5])
  })

  it('reports the first failure in statement order and sends nothing after it', async () => {
    const sent: number[] = []
    const failure = open.db.transaction().execute(async (trx) => {
      const queue = new StatementQueue()
      await queue.around(async () => {
        await queue.send(() => sql`select 1`.execute(trx))
        await queue.send(() => sql`select 1 / 0`.execute(trx))
        // Built only after the failure came back: a later statement fails because the transaction is aborted.
        await new Promise((resolve) => setTimeout(resolve, 200))
        await queue.send(() => {
          sent.push(3)
          return sql`select 3`.execute(trx)
        })
        await queue.finish()
      })
    })
    await expect(failure).rejects.toThrow(/division by zero/)
    expect(sent).toEqual([])
  })

  it('array literals carry every value as its text', async () => {
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
