import {rm} from 'node:fs/promises'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../../src/db/connection.js'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import type {StudyName} from '../../../src/importers/excel/parse-log.js'
import type {ImportResult} from '../../../src/importers/import-session.js'
import {checkRows} from '../../../src/verify/check-rows.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../../support/backends.js'
import {snapshotData} from '../../support/db-snapshot.js'
import {KNEE_SAMPLE_VERSIONS, kneeSampleDir, participantFoldersByStudy} from '../../support/knee-samples.js'
import {copyV4Participants} from '../../support/knee-trees.js'

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

/** What a run reports, without its id. */
function reported(result: ImportResult) {
  return {
    files: result.files,
    tables: result.tables,
    rejected: result.rejected,
    warnings: [...result.warnings].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  }
}

describe.each(testBackends())('backfill-excel writes in batches (%s)', (backend) => {
  const dbs: TestDatabase[] = []
  const opened: OpenDatabase[] = []
  const runs: ImportResult[][] = [[], []]

  beforeAll(async () => {
    for (const [i, batchWorkbooks] of [64, 1].entries()) {
      const database = await createTestDatabase(backend)
      dbs.push(database)
      const open = await database.open()
      opened.push(open)
      // Each sample tree in turn over the last (v1-v3 per study, as a data manager would): inserts, then updates and
      // deletes of the same logs; then v4 again, all unchanged.
      for (const tree of [...KNEE_SAMPLE_VERSIONS, 'v4-2026-01-29' as const]) {
        const groups: Array<[string | undefined, string[]]> = tree.startsWith('v4')
          ? [[undefined, [kneeSampleDir(tree)]]]
          : [...participantFoldersByStudy(tree)]
        for (const [study, paths] of groups) {
          const options = {db: open.db, paths, version: 'test', batchWorkbooks}
          runs[i]!.push(await backfillExcel(study ? {...options, study: study as StudyName} : options))
        }
      }
    }
  }, 600_000)

  afterAll(async () => {
    for (const open of opened) await open.close()
    for (const database of dbs) await database.drop()
  })

  it('reports what the sequential path reports, run by run', () => {
    expect(runs[0]!.map(reported)).toEqual(runs[1]!.map(reported))
    expect(runs[0]![0]!.files.imported).toBeGreaterThan(3)
    // Later layouts of the same logs update and delete rows: the comparison covers both.
    const later = runs[0]!.slice(1)
    expect(later.some((r) => Object.values(r.tables).some((t) => t.updated > 0))).toBe(true)
    expect(later.some((r) => Object.values(r.tables).some((t) => t.deleted > 0))).toBe(true)
  })

  it('writes the same rows, content hashes, provenance, source_imports and audit entries', async () => {
    const batched = await snapshotData(opened[0]!.db)
    expect(batched.source_imports!.length).toBeGreaterThan(10)
    expect(batched).toEqual(await snapshotData(opened[1]!.db))
    const audit = await auditEntries(opened[1]!.db)
    const operations = new Set(audit.map((a) => JSON.parse(a)[2]))
    expect([...operations].sort()).toEqual(['delete', 'insert', 'update'])
    expect(await auditEntries(opened[0]!.db)).toEqual(audit)
  })

  it('stores content hashes of the rows as kept: columns v4 lacks keep their v1-v3 values and verify finds no edit', async () => {
    for (const open of opened) {
      // v4 has no acoustic threshold: the v1-v3 values stay, and the hash must cover them.
      const {rows} = await sql<{kept: number}>`select count(*)::int as kept from cycle_extraction_summaries
        where acoustic_threshold is not null`.execute(open.db)
      expect(rows[0]!.kept).toBeGreaterThan(0)
      const {findings} = await checkRows(open.db)
      expect(findings.filter((f) => f.code === 'ROW_EDITED')).toEqual([])
    }
  })
})

describe.each(testBackends())('a workbook the database refuses in the middle of a batch (%s)', (backend) => {
  let tree: string
  const dbs: TestDatabase[] = []
  const opened: OpenDatabase[] = []
  const results: ImportResult[] = []

  beforeAll(async () => {
    tree = await copyV4Participants(['1019', '1021', '2037'])
    for (const batchWorkbooks of [64, 1]) {
      const database = await createTestDatabase(backend)
      dbs.push(database)
      const open = await database.open()
      opened.push(open)
      // The database refuses participant 1021's left sit-to-stand log (the middle of the tree, in a batch of 8).
      await sql
        .raw(`create function refuse_one() returns trigger language plpgsql as $$
begin
  if new.knee = 'left' and new.maneuver = 'sts'
    and (select participant_number from participants where id = new.participant_id) = 1021 then
    raise exception using errcode = '23514', message = 'refused by the test: no 1021 left sit-to-stand';
  end if;
  return new;
end $$`)
        .execute(open.db)
      await sql`create trigger refuse_one before insert or update on processing_logs for each row execute function refuse_one()`.execute(
        open.db,
      )
      results.push(await backfillExcel({db: open.db, paths: [tree], version: 'test', batchWorkbooks}))
    }
  }, 300_000)

  afterAll(async () => {
    for (const open of opened) await open.close()
    for (const database of dbs) await database.drop()
    if (tree) await rm(tree, {recursive: true, force: true})
  })

  it('rejects that workbook alone, with its exact message, and imports every other', async () => {
    const [batched, sequential] = results
    expect(batched!.rejected).toEqual([
      {
        file: '#1021/Left Knee/Sit-Stand/processing_log_1021_Left_sit_to_stand.xlsx',
        sheet: null,
        row: null,
        column: null,
        code: 'WRITE_REFUSED',
        message: 'the database refused the workbook: refused by the test: no 1021 left sit-to-stand',
      },
    ])
    expect(batched!.rejected).toEqual(sequential!.rejected)
    expect(batched!.files).toEqual(sequential!.files)
    expect(batched!.files.imported).toBe(batched!.files.seen - 1)
    expect(batched!.tables).toEqual(sequential!.tables)
    const logs = await opened[0]!.db.selectFrom('processing_logs').select('id').execute()
    expect(logs).toHaveLength(batched!.files.imported - 6)
    expect(await snapshotData(opened[0]!.db)).toEqual(await snapshotData(opened[1]!.db))
    expect(await auditEntries(opened[0]!.db)).toEqual(await auditEntries(opened[1]!.db))
  })
})
