import {rm} from 'node:fs/promises'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../../src/db/connection.js'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import type {ImportResult} from '../../../src/importers/import-session.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../../support/backends.js'
import {snapshotData} from '../../support/db-snapshot.js'
import {addBadWorkbooks, copyV4Participants} from '../../support/knee-trees.js'

const VOLATILE = new Set(['created_at', 'updated_at', 'run_id', 'hashed_at'])

/** Every audit entry, without its id, time and run (and without those columns inside its values). */
async function auditEntries(db: OpenDatabase['db']): Promise<string[]> {
  const {rows} = await sql<{
    table_name: string
    row_id: string
    operation: string
    old_values: Record<string, unknown> | null
    new_values: Record<string, unknown> | null
  }>`select table_name, row_id, operation, old_values, new_values from audit_log`.execute(db)
  const strip = (values: Record<string, unknown> | null) =>
    values &&
    Object.fromEntries(
      Object.entries(values)
        .filter(([k]) => !VOLATILE.has(k))
        .sort(),
    )
  return rows
    .map((r) =>
      JSON.stringify([r.table_name, r.row_id, r.operation, strip(r.old_values), strip(r.new_values)]),
    )
    .sort()
}

/** One import of the same tree in this thread and on worker threads must leave the same database behind. */
describe.each(testBackends())('backfill-excel reading on worker threads (%s)', (backend) => {
  let tree: string
  const dbs: TestDatabase[] = []
  const opened: OpenDatabase[] = []
  const results: ImportResult[] = []

  beforeAll(async () => {
    tree = await copyV4Participants(['1019', '1021', '2037'])
    await addBadWorkbooks(tree)
    for (const parseThreads of [0, 2]) {
      const database = await createTestDatabase(backend)
      dbs.push(database)
      const open = await database.open()
      opened.push(open)
      results.push(await backfillExcel({db: open.db, paths: [tree], version: 'test', parseThreads}))
    }
  })

  afterAll(async () => {
    for (const open of opened) await open.close()
    for (const database of dbs) await database.drop()
    if (tree) await rm(tree, {recursive: true, force: true})
  })

  it('writes the same rows, content hashes, provenance and audit entries', async () => {
    expect(results[1]!.files).toEqual(results[0]!.files)
    expect(results[1]!.tables).toEqual(results[0]!.tables)
    expect(results[0]!.files.imported).toBeGreaterThan(0)
    expect(await snapshotData(opened[1]!.db)).toEqual(await snapshotData(opened[0]!.db))
    const audit = await auditEntries(opened[0]!.db)
    expect(audit.length).toBeGreaterThan(0)
    expect(await auditEntries(opened[1]!.db)).toEqual(audit)
  })

  it('rejects each bad workbook alone, with the same file > sheet > row > column messages', async () => {
    const [inThread, onWorkers] = results
    expect(onWorkers!.files.rejected).toBe(5)
    expect(onWorkers!.rejected).toEqual(expect.arrayContaining(inThread!.rejected))
    expect(onWorkers!.rejected).toHaveLength(inThread!.rejected.length)
    expect(onWorkers!.warnings.map((w) => w.code).sort()).toEqual(
      inThread!.warnings.map((w) => w.code).sort(),
    )
  })
})
