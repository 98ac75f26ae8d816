import {mkdir, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import ExcelJS from 'exceljs'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {readWorkbook} from '../../src/importers/excel/read-workbook.js'
import type {ImportResult} from '../../src/importers/import-session.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {countAll, snapshotData} from '../support/db-snapshot.js'
import {
  addBadWorkbooks,
  type BadWorkbooks,
  columnOf,
  copyV4Participants,
  editWorkbook,
  editWorkbookXml,
  walkLogPath,
} from '../support/knee-trees.js'
import {runCli} from '../support/run-cli.js'

function parseJson(stdout: string): ImportResult {
  return JSON.parse(stdout) as ImportResult
}

describe.each(testBackends())('aedb backfill-excel on %s', (backend) => {
  describe('bad input beside good workbooks', () => {
    let testDb: TestDatabase
    let root: string
    let bad: BadWorkbooks
    let result: ImportResult
    let exitCode: number
    const rejectsFile = () => path.join(root, 'rejects.xlsx')

    beforeAll(async () => {
      testDb = await createTestDatabase(backend)
      root = await copyV4Participants(['1019'])
      bad = await addBadWorkbooks(root)
      await writeFile(
        path.join(root, '#1019', 'Left Knee', 'Walking', '~$processing_log_1019_Left_walk.xlsx'),
        'lock',
      )
      await mkdir(path.join(root, '.trash'), {recursive: true})
      await writeFile(path.join(root, '.trash', 'processing_log_1019_Left_walk.xlsx'), 'hidden')
      const notALog = new ExcelJS.Workbook()
      notALog.addWorksheet('walk_data').addRow(['Time', 'Angle'])
      await mkdir(path.join(root, '#1019', 'Motion Capture'), {recursive: true})
      await notALog.xlsx.writeFile(
        path.join(root, '#1019', 'Motion Capture', 'AOA1019_Biomechanics_Full_Set.xlsx'),
      )
      const run = await runCli([
        'backfill-excel',
        root,
        '--json',
        '--rejects',
        rejectsFile(),
        '--database-url',
        testDb.url,
      ])
      exitCode = run.exitCode
      result = parseJson(run.stdout)
    })

    afterAll(async () => {
      await testDb?.drop()
      if (root) await rm(root, {recursive: true, force: true})
    })

    it('exits 3 and counts every file', () => {
      expect(exitCode).toBe(3)
      expect(result.files).toEqual({seen: 16, imported: 8, unchanged: 0, rejected: 5, skipped: 3})
    })

    it('names file and reason of each of the five kinds of bad input', () => {
      const byFile = (file: string) => result.rejected.filter((r) => r.file === path.relative(root, file))
      expect(byFile(bad.truncated).map((r) => r.code)).toEqual(['WORKBOOK_UNREADABLE'])
      expect(byFile(bad.notZip).map((r) => r.code)).toEqual(['WORKBOOK_UNREADABLE'])
      expect(byFile(bad.notZip)[0]!.message).toMatch(/not a readable \.xlsx file/)
      expect(byFile(bad.empty).map((r) => r.code)).toEqual(['WORKBOOK_EMPTY'])
      const missing = byFile(bad.missingColumn)
      expect(missing).toEqual([
        expect.objectContaining({
          sheet: 'Synchronization',
          row: 1,
          column: 'Sync File',
          code: 'MISSING_COLUMN',
        }),
      ])
      expect(missing[0]!.message).toContain('closest found: "Sync Files"')
      const values = byFile(bad.badValues)
      expect(values).toEqual([
        expect.objectContaining({
          sheet: 'Synchronization',
          row: 3,
          column: 'Audio Sync Time (s)',
          code: 'INVALID_VALUE',
          message: 'found "abc", expected a number',
        }),
        expect.objectContaining({
          sheet: 'Synchronization',
          row: 4,
          column: 'Processing Date',
          code: 'INVALID_VALUE',
          message: 'found "yesterday", expected a date and time',
        }),
      ])
    })

    it('imports the good workbooks and nothing of the rejected ones', async () => {
      const open = await testDb.open()
      try {
        const participants = await open.db
          .selectFrom('participants')
          .select('participant_number')
          .orderBy('participant_number')
          .execute()
        expect(participants.map((p) => p.participant_number)).toEqual([1019])
        expect((await countAll(open.db)).processing_logs).toBe(6)
        const files = await open.db
          .selectFrom('files')
          .select('rel_path')
          .where('kind', '=', 'workbook')
          .execute()
        expect(files.map((f) => f.rel_path).filter((p) => /#300\d/.test(p))).toEqual([])
        const run = await open.db
          .selectFrom('runs')
          .selectAll()
          .where('id', '=', result.runId)
          .executeTakeFirstOrThrow()
        expect(run.outcome).toBe('problems')
        expect(run.command).toBe('backfill-excel')
      } finally {
        await open.close()
      }
    })

    it('writes the rejected rows with their original cells and reason to --rejects', async () => {
      const workbook = await readWorkbook(rejectsFile())
      const sync = workbook.sheets.find((s) => s.name === 'Synchronization')!
      const rows = sync.rows.map((r) => Object.fromEntries(r.cells))
      expect(rows).toContainEqual(
        expect.objectContaining({
          Row: 3,
          Column: 'Audio Sync Time (s)',
          'Audio Sync Time (s)': 'abc',
          Reason: 'found "abc", expected a number',
        }),
      )
      const workbooks = workbook.sheets.find((s) => s.name === 'Workbooks')!
      expect(workbooks.rows.map((r) => r.cells.get('Code')).sort()).toEqual([
        'MISSING_COLUMN',
        'WORKBOOK_EMPTY',
        'WORKBOOK_UNREADABLE',
        'WORKBOOK_UNREADABLE',
      ])
    })

    it('refuses a --rejects path that cannot take the workbook at once (exit 2), importing nothing', async () => {
      const inTheWay = path.join(root, 'in-the-way.txt')
      await writeFile(inTheWay, 'x')
      const cases: Array<[string, RegExp]> = [
        [path.join(root, 'rejects.csv'), /must end in \.xlsx/],
        [path.join(root, 'a-folder.xlsx'), /is a folder/],
        [path.join(inTheWay, 'rejects.xlsx'), /a file is in the way/],
      ]
      await mkdir(cases[1]![0])
      const fresh = await createTestDatabase(backend)
      try {
        for (const [file, message] of cases) {
          const run = await runCli([
            'backfill-excel',
            root,
            '--json',
            '--rejects',
            file,
            '--database-url',
            fresh.url,
          ])
          expect(run.exitCode, run.stderr).toBe(2)
          expect(JSON.parse(run.stdout).error).toMatchObject({
            code: 'REJECTS_PATH_INVALID',
            message: expect.stringMatching(message),
          })
        }
        const open = await fresh.open()
        try {
          expect(await open.db.selectFrom('processing_logs').select('id').execute()).toEqual([])
        } finally {
          await open.close()
        }
      } finally {
        await fresh.drop()
      }
    })

    it('with --coerce-invalid stores NULL, keeps the text in extra and warns; --study in any case', async () => {
      const run = await runCli([
        'backfill-excel',
        path.dirname(path.dirname(path.dirname(bad.badValues))),
        '--coerce-invalid',
        '--study',
        'aoa',
        '--json',
        '--database-url',
        testDb.url,
      ])
      expect(run.exitCode).toBe(0)
      const coerced = parseJson(run.stdout)
      expect(coerced.warnings.filter((w) => w.code === 'COERCED_INVALID')).toHaveLength(2)
      const open = await testDb.open()
      try {
        const row = await open.db
          .selectFrom('synchronizations as s')
          .innerJoin('processing_logs as l', 'l.id', 's.processing_log_id')
          .innerJoin('participants as p', 'p.id', 'l.participant_id')
          .select(['s.audio_sync_time_s', 's.extra'])
          .where('p.participant_number', '=', 3005)
          .where('s.source_row', '=', 3)
          .executeTakeFirstOrThrow()
        expect(row.audio_sync_time_s).toBeNull()
        expect(row.extra['Audio Sync Time (s)']).toBe('abc')
        const study = await open.db
          .selectFrom('participants as p')
          .innerJoin('studies as st', 'st.id', 'p.study_id')
          .select('st.name')
          .where('p.participant_number', '=', 3005)
          .executeTakeFirstOrThrow()
        expect(study.name).toBe('AOA')
      } finally {
        await open.close()
      }
    })

    it('stops after --max-errors rejected workbooks', async () => {
      const fresh = await createTestDatabase(backend)
      try {
        for (const jobs of ['1', '4']) {
          const run = await runCli([
            'backfill-excel',
            root,
            '--max-errors',
            '1',
            '--jobs',
            jobs,
            '--dry-run',
            '--json',
            '--database-url',
            fresh.url,
          ])
          expect(run.exitCode).toBe(3)
          const stopped = parseJson(run.stdout)
          expect(stopped.files.rejected).toBe(1)
          expect(new Set(stopped.rejected.map((r) => r.file)).size).toBe(1)
          expect(stopped.warnings.find((w) => w.code === 'MAX_ERRORS')?.message).toMatch(/stopped after 1 /)
        }
      } finally {
        await fresh.drop()
      }
    })

    it('a dry run says what it would do and writes nothing, not even the --rejects workbook', async () => {
      const fresh = await createTestDatabase(backend)
      const dryRejects = path.join(root, 'dry-rejects.xlsx')
      try {
        const run = await runCli([
          'backfill-excel',
          root,
          '--dry-run',
          '--rejects',
          dryRejects,
          '--database-url',
          fresh.url,
        ])
        expect(run.exitCode).toBe(3)
        expect(run.stdout).toMatch(
          /^Dry run, nothing was changed or written: \d+ file\(s\) seen: would import 8,/,
        )
        expect(run.stdout).toContain('would reject 5 file(s)')
        expect(run.stdout).toMatch(/table\s+would insert\s+would update\s+unchanged\s+would delete/)
        expect(run.stdout).toMatch(/Rejected: \d+ problem\(s\) in 5 file\(s\):/)
        await expect(readWorkbook(dryRejects)).rejects.toThrow()
      } finally {
        await fresh.drop()
      }
    })
  })

  describe('re-runs, edits and dry runs', () => {
    let testDb: TestDatabase
    let root: string

    beforeAll(async () => {
      testDb = await createTestDatabase(backend)
      root = await copyV4Participants(['1019', '2037'])
    })

    afterAll(async () => {
      await testDb?.drop()
      if (root) await rm(root, {recursive: true, force: true})
    })

    it('--dry-run changes nothing (no run row either) and reports what the real run then does', async () => {
      const open = await testDb.open()
      const before = await countAll(open.db)
      const snapshotBefore = await snapshotData(open.db)
      await open.close()
      const dry = await runCli(['backfill-excel', root, '--dry-run', '--json', '--database-url', testDb.url])
      expect(dry.exitCode).toBe(0)
      const dryResult = parseJson(dry.stdout)
      expect(dryResult.dryRun).toBe(true)
      const reopened = await testDb.open()
      expect(await countAll(reopened.db)).toEqual(before)
      expect(await snapshotData(reopened.db)).toEqual(snapshotBefore)
      await reopened.close()
      const real = await runCli(['backfill-excel', root, '--json', '--database-url', testDb.url])
      expect(real.exitCode).toBe(0)
      const realResult = parseJson(real.stdout)
      expect(realResult.files).toEqual(dryResult.files)
      expect(realResult.tables).toEqual(dryResult.tables)
      expect(realResult.tables.processing_logs!.inserted).toBe(12)
    })

    it('a second run reports every workbook unchanged and writes nothing', async () => {
      const again = await runCli(['backfill-excel', root, '--json', '--database-url', testDb.url])
      expect(again.exitCode).toBe(0)
      const result = parseJson(again.stdout)
      expect(result.files).toEqual({seen: 16, imported: 0, unchanged: 16, rejected: 0, skipped: 0})
      for (const counts of Object.values(result.tables)) expect(counts.inserted + counts.updated).toBe(0)
    })

    it('one changed cell updates exactly that row, with one audit entry holding old and new value', async () => {
      const log = walkLogPath(root, '1019')
      // Edited in the sheet XML: a round trip through exceljs would also round every date to the millisecond.
      const read = new ExcelJS.Workbook()
      await read.xlsx.readFile(log)
      const sync = read.getWorksheet('Synchronization')!
      const address = sync.getRow(3).getCell(columnOf(sync, 'Audio Sync Time (s)')).address
      await editWorkbookXml(log, `xl/worksheets/sheet${sync.id}.xml`, (xml) =>
        xml.replace(new RegExp(`(<c r="${address}"[^>]*>)<v>[^<]*</v>`), '$1<v>6.5</v>'),
      )
      const run = await runCli(['backfill-excel', root, '--json', '--database-url', testDb.url])
      expect(run.exitCode).toBe(0)
      const result = parseJson(run.stdout)
      expect(result.files).toMatchObject({imported: 1, unchanged: 15})
      const changed = Object.entries(result.tables).filter(
        ([table, c]) => table !== 'files' && table !== 'source_imports' && c.inserted + c.updated > 0,
      )
      expect(changed).toEqual([['synchronizations', {inserted: 0, updated: 1, unchanged: 3, deleted: 0}]])
      const open = await testDb.open()
      try {
        const audit = await open.db
          .selectFrom('audit_log')
          .selectAll()
          .where('run_id', '=', result.runId)
          .where('table_name', 'not in', ['files', 'source_imports'])
          .execute()
        expect(audit).toHaveLength(1)
        expect(audit[0]!.operation).toBe('update')
        expect(audit[0]!.old_values?.audio_sync_time_s).toBe(6.4079)
        expect(audit[0]!.new_values?.audio_sync_time_s).toBe(6.5)
      } finally {
        await open.close()
      }
    })

    it('counts rows gone from a workbook as deleted: --json tables, runs.counts and the summary table', async () => {
      const log = walkLogPath(root, '1019')
      await editWorkbook(log, log, (wb) => {
        const sync = wb.getWorksheet('Synchronization')!
        sync.spliceRows(sync.actualRowCount, 1)
      })
      const run = await runCli(['backfill-excel', root, '--json', '--database-url', testDb.url])
      expect(run.exitCode).toBe(0)
      const result = parseJson(run.stdout)
      // exceljs rewrote the workbook with every date rounded to the millisecond, so the three rows left may count
      // as updated (their microseconds) rather than unchanged; the one row gone is what this test is about.
      const syncs = result.tables.synchronizations!
      expect(syncs).toMatchObject({inserted: 0, deleted: 1})
      expect(syncs.updated + syncs.unchanged).toBe(3)
      const open = await testDb.open()
      try {
        const runRow = await open.db
          .selectFrom('runs')
          .select('counts')
          .where('id', '=', result.runId)
          .executeTakeFirstOrThrow()
        expect((runRow.counts as {tables: ImportResult['tables']}).tables.synchronizations).toEqual(syncs)
      } finally {
        await open.close()
      }
      await editWorkbook(log, log, (wb) => {
        const sync = wb.getWorksheet('Synchronization')!
        sync.spliceRows(sync.actualRowCount, 1)
      })
      const human = await runCli(['backfill-excel', root, '--database-url', testDb.url])
      expect(human.exitCode).toBe(0)
      expect(human.stdout).toMatch(/table\s+inserted\s+updated\s+unchanged\s+deleted/)
      expect(human.stdout).toMatch(/synchronizations\s+0\s+0\s+2\s+1\b/)
    })

    it('--force reads a workbook whose bytes were imported: an edited row is restored, then nothing changes', async () => {
      const log = walkLogPath(root, '2037')
      // Opened only around each query: a PGlite folder is one process's at a time, and the CLI runs in another.
      const query = async <T>(run: (db: Awaited<ReturnType<TestDatabase['open']>>['db']) => Promise<T>) => {
        const open = await testDb.open()
        try {
          return await run(open.db)
        } finally {
          await open.close()
        }
      }
      const edited = () =>
        query(
          async (db) =>
            (
              await sql<{id: string; duration_s: number | null}>`
              select s.id, s.duration_s from synchronizations s join files f on f.id = s.source_file_id
              where f.rel_path = ${path.relative(root, log)} order by s.sync_file limit 1`.execute(db)
            ).rows[0]!,
        )
      const row = await edited()
      await query((db) => sql`update synchronizations set duration_s = 99.5 where id = ${row.id}`.execute(db))
      const plain = parseJson(
        (await runCli(['backfill-excel', log, '--json', '--database-url', testDb.url])).stdout,
      )
      expect(plain.files).toMatchObject({imported: 0, unchanged: 1})
      expect((await edited()).duration_s).toBe(99.5)
      const forced = await runCli(['backfill-excel', log, '--force', '--json', '--database-url', testDb.url])
      expect(forced.exitCode).toBe(0)
      const result = parseJson(forced.stdout)
      expect(result.files).toMatchObject({imported: 1, unchanged: 0})
      const changed = Object.entries(result.tables).filter(
        ([table, c]) =>
          table !== 'files' && table !== 'source_imports' && c.inserted + c.updated + c.deleted > 0,
      )
      expect(changed).toEqual([
        ['synchronizations', expect.objectContaining({inserted: 0, updated: 1, deleted: 0})],
      ])
      expect((await edited()).duration_s).toBe(row.duration_s)
      // Over the whole tree the workbooks are written many per transaction (writeLogBatch): edits are restored there too.
      await query((db) => sql`update synchronizations set duration_s = 99.5`.execute(db))
      const whole = parseJson(
        (await runCli(['backfill-excel', root, '--force', '--json', '--database-url', testDb.url])).stdout,
      )
      expect(whole.files.imported).toBeGreaterThan(1)
      expect(whole.tables.synchronizations).toMatchObject({inserted: 0, unchanged: 0, deleted: 0})
      const left = await query((db) =>
        sql<{n: number}>`select count(*)::int as n from synchronizations where duration_s = 99.5`.execute(db),
      )
      expect(left.rows[0]!.n).toBe(0)
      // Forced over the whole tree again: every row matches its workbook, so nothing is written.
      const again = parseJson(
        (await runCli(['backfill-excel', root, '--force', '--json', '--database-url', testDb.url])).stdout,
      )
      expect(again.files).toEqual({seen: 16, imported: 0, unchanged: 16, rejected: 0, skipped: 0})
      for (const counts of Object.values(again.tables)) expect(counts.inserted + counts.updated).toBe(0)
      // And a plain re-run of the unchanged tree reads nothing.
      const rerun = parseJson(
        (await runCli(['backfill-excel', root, '--json', '--database-url', testDb.url])).stdout,
      )
      expect(rerun.files).toEqual({seen: 16, imported: 0, unchanged: 16, rejected: 0, skipped: 0})
    })

    it('reads date cells as the same wall-clock time whatever the machine time zone', async () => {
      const fresh = await createTestDatabase(backend)
      try {
        const run = await runCli(['backfill-excel', root, '--json', '--database-url', fresh.url], {
          env: {TZ: 'Pacific/Auckland'},
        })
        expect(run.exitCode).toBe(0)
        const workbook = await readWorkbook(walkLogPath(root, '2037'))
        const created = workbook.sheets
          .find((s) => s.name === 'Summary')!
          .rows[0]!.cells.get('Log Created') as {naive: string}
        const open = await fresh.open()
        try {
          const row = await open.db
            .selectFrom('processing_logs as l')
            .innerJoin('participants as p', 'p.id', 'l.participant_id')
            .select(sql<string>`to_char(l.log_created, 'YYYY-MM-DD HH24:MI:SS.US')`.as('created'))
            .where('p.participant_number', '=', 2037)
            .where('l.maneuver', '=', 'walk')
            .where('l.knee', '=', 'left')
            .executeTakeFirstOrThrow()
          // Microseconds kept: the naive text padded to six fraction digits, as to_char's US prints them.
          const [whole, fraction = ''] = created.naive.split('.')
          expect(row.created).toBe(`${whole}.${fraction.padEnd(6, '0')}`)
        } finally {
          await open.close()
        }
      } finally {
        await fresh.drop()
      }
    })
  })

  describe.runIf(backend === 'postgres')('several processes', () => {
    let root: string
    let reference: Record<string, unknown[]>

    beforeAll(async () => {
      root = await copyV4Participants(['1019', '1021', '2037'])
      const clean = await createTestDatabase(backend)
      try {
        expect((await runCli(['backfill-excel', root, '--json', '--database-url', clean.url])).exitCode).toBe(
          0,
        )
        const open = await clean.open()
        reference = await snapshotData(open.db)
        await open.close()
      } finally {
        await clean.drop()
      }
    })

    afterAll(async () => {
      if (root) await rm(root, {recursive: true, force: true})
    })

    it('two backfills of the same tree started together end in the state one run gives', async () => {
      const db = await createTestDatabase(backend)
      try {
        const runs = await Promise.all([
          runCli(['backfill-excel', root, '--json', '--database-url', db.url]),
          runCli(['backfill-excel', root, '--json', '--database-url', db.url]),
        ])
        expect(runs.map((r) => r.exitCode)).toEqual([0, 0])
        const open = await db.open()
        expect(await snapshotData(open.db)).toEqual(reference)
        await open.close()
      } finally {
        await db.drop()
      }
    })

    it('a backfill killed part-way and run again ends in the state one run gives', async () => {
      const db = await createTestDatabase(backend)
      try {
        const watcher = await db.open()
        const logsWritten = async () =>
          (await sql<{n: number}>`select count(*)::int as n from processing_logs`.execute(watcher.db))
            .rows[0]!.n
        // Kill as soon as the first workbooks are committed: mid-way through the writes.
        const killed = await runCli(['backfill-excel', root, '--jobs', '1', '--database-url', db.url], {
          killWhen: async () => (await logsWritten()) >= 2,
        })
        const written = await logsWritten()
        const outcomes = (await watcher.db.selectFrom('runs').select('outcome').execute()).map(
          (r) => r.outcome,
        )
        await watcher.close()
        expect(killed.exitCode).toBe(137)
        expect(outcomes).toEqual(['running'])
        expect(written).toBeGreaterThan(0)
        expect(written).toBeLessThan(18)
        expect((await runCli(['backfill-excel', root, '--json', '--database-url', db.url])).exitCode).toBe(0)
        const reopened = await db.open()
        expect(await snapshotData(reopened.db)).toEqual(reference)
        // The killed run's row no longer claims to be running.
        const runs = await reopened.db
          .selectFrom('runs')
          .select(['outcome', 'counts'])
          .orderBy('started_at')
          .execute()
        expect(runs.map((r) => r.outcome)).toEqual(['failed', 'succeeded'])
        expect(runs[0]!.counts).toEqual({abandoned: true})
        await reopened.close()
      } finally {
        await db.drop()
      }
    })
  })
})
