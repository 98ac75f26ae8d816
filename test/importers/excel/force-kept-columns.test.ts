import {cp, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {sql} from 'kysely'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../../src/db/connection.js'
import {startRun} from '../../../src/db/runs.js'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import type {StudyName} from '../../../src/importers/excel/parse-log.js'
import {verify} from '../../../src/verify/verify.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../../support/backends.js'
import {type KneeSampleVersion, kneeSampleDir} from '../../support/knee-samples.js'
import {runCli} from '../../support/run-cli.js'

// A v1 walk log: its Audio sheet has no per-log or per-microphone QC-fail flags (v4 has), so a re-import keeps those
// columns of its audio_processing row as they are (upsert-rows' hashKeptColumns). A v4 walk log has no acoustic
// threshold in its cycle summaries (v1-v3 have). Hand edits of such columns must not be blessed by --force.
const V1_LOG: [KneeSampleVersion, ...string[]] = [
  'v1-2025-12-28',
  '#1019',
  'Right Knee',
  'Walking',
  'processing_log_1019_Right_walk.xlsx',
]
const V4_LOG: [KneeSampleVersion, ...string[]] = [
  'v4-2026-01-29',
  '#2037',
  'Left Knee',
  'Walking',
  'processing_log_2037_Left_walk.xlsx',
]
const VOLATILE = new Set(['updated_at', 'run_id'])

type Row = Record<string, unknown> & {id: string; content_hash: string}

describe.each(testBackends())(
  'backfill-excel --force over hand edits of columns the layout lacks (%s)',
  (backend) => {
    let database: TestDatabase
    let opened: OpenDatabase
    let root: string
    const logs: Record<'v1' | 'v4', string> = {v1: '', v4: ''}
    let audio: Row
    let summary: Row

    const db = () => opened.db
    const force = (log: string) => backfillExcel({db: db(), paths: [log], version: 'test', force: true})
    const rowsCheck = () => verify({db: db(), checks: ['rows'], argv: ['verify'], version: 'test', jobs: 1})
    const rowOf = async (table: string, id: string) =>
      (await sql<Row>`select * from ${sql.table(table)} where id = ${id}`.execute(db())).rows[0]!
    const stable = (row: Row) => Object.fromEntries(Object.entries(row).filter(([k]) => !VOLATILE.has(k)))
    const auditCount = async () =>
      (await sql<{n: number}>`select count(*)::int as n from audit_log`.execute(db())).rows[0]!.n
    const edited = (r: Awaited<ReturnType<typeof rowsCheck>>) =>
      r.findings.map((f) => [f.code, f.table, f.id])

    /** A hand edit as `aedb sql --write` makes it: audited under a run of its own, which is no importer's. */
    async function editBySql(table: string, id: string, set: string): Promise<void> {
      const runId = await startRun({db: db(), command: 'sql', argv: ['sql', '--write'], version: 'test'})
      await db()
        .transaction()
        .execute(async (trx) => {
          await sql`select set_config('aedb.run_id', ${runId}, true)`.execute(trx)
          await sql.raw(`update ${table} set ${set} where id = '${id}'`).execute(trx)
        })
    }

    beforeAll(async () => {
      database = await createTestDatabase(backend)
      opened = await database.open()
      root = await mkdtemp(path.join(tmpdir(), 'aedb-force-kept-'))
      for (const [layout, parts] of [
        ['v1', V1_LOG],
        ['v4', V4_LOG],
      ] as const) {
        await cp(kneeSampleDir(parts[0]), path.join(root, layout), {recursive: true})
        logs[layout] = path.join(root, layout, ...parts.slice(1))
        // v1 names no study; v4 does.
        const study = layout === 'v1' ? {study: 'AOA' as StudyName} : {}
        const first = await backfillExcel({db: db(), paths: [logs[layout]], version: 'test', ...study})
        expect(first.rejected).toEqual([])
      }
      audio = (
        await sql<Row>`select a.* from audio_processing a join processing_logs l on l.id = a.processing_log_id
        join participants p on p.id = l.participant_id where p.participant_number = 1019`.execute(db())
      ).rows[0]!
      summary = (
        await sql<Row>`select c.* from cycle_extraction_summaries c join processing_logs l on l.id = c.processing_log_id
        join participants p on p.id = l.participant_id where p.participant_number = 2037 order by c.id limit 1`.execute(
          db(),
        )
      ).rows[0]!
      // The columns edited below are ones these layouts do not write: imported empty.
      expect(audio).toMatchObject({qc_fail: null, qc_fail_ch2: null})
      expect(summary).toMatchObject({acoustic_threshold: null})
    }, 120_000)

    beforeEach(async () => {
      // Each test starts from the rows as imported, findings forgotten.
      expect(stable(await rowOf('audio_processing', audio.id))).toEqual(stable(audio))
      expect(stable(await rowOf('cycle_extraction_summaries', summary.id))).toEqual(stable(summary))
      await sql`delete from verify_findings`.execute(db())
    })

    afterAll(async () => {
      await opened?.close()
      await database?.drop()
      if (root) await rm(root, {recursive: true, force: true})
    })

    it('v1: puts back the values aedb wrote, from audit_log, and verify lists ROW_EDITED as resolved', async () => {
      await editBySql('audio_processing', audio.id, `qc_fail = true, qc_fail_ch2 = false, notes = 'by hand'`)
      const broken = await rowsCheck()
      expect(edited(broken)).toEqual([['ROW_EDITED', 'audio_processing', audio.id]])
      expect(broken.ok).toBe(false)

      // A plain re-run skips the workbook (its bytes were imported): nothing written.
      const audited = await auditCount()
      const plain = await backfillExcel({db: db(), paths: [logs.v1], version: 'test'})
      expect(plain.files).toMatchObject({imported: 0, unchanged: 1})
      expect(await auditCount()).toBe(audited)

      const forced = await force(logs.v1)
      expect(forced.rejected).toEqual([])
      expect(forced.tables.audio_processing).toMatchObject({inserted: 0, updated: 1, deleted: 0})
      const restored = await rowOf('audio_processing', audio.id)
      expect(stable(restored)).toEqual(stable(audio))
      expect(restored.content_hash).toBe(audio.content_hash)
      // The restore is aedb's own write, audited under the forced run: the kept columns, then the written one.
      const {rows} = await sql<{new_values: Record<string, unknown>}>`
        select new_values from audit_log where row_id = ${audio.id} and run_id = ${forced.runId} order by id`.execute(
        db(),
      )
      expect(rows.map((r) => r.new_values)).toEqual([
        {qc_fail: null, qc_fail_ch2: null},
        {notes: null, run_id: forced.runId},
      ])

      const fixed = await rowsCheck()
      expect(fixed.findings).toEqual([])
      expect(fixed.resolved.map((f) => [f.code, f.id])).toEqual([['ROW_EDITED', audio.id]])
      expect(fixed.ok).toBe(true)

      // Forced again over a row that matches: nothing written.
      const before = await auditCount()
      const again = await force(logs.v1)
      expect(again.tables.audio_processing).toMatchObject({inserted: 0, updated: 0, deleted: 0})
      expect(await auditCount()).toBe(before)
    })

    it('v1: only a column the layout lacks edited; forced twice over two edits, aedb’s value wins each time', async () => {
      await editBySql('audio_processing', audio.id, 'qc_fail_ch3 = true')
      const first = await force(logs.v1)
      expect(first.tables.audio_processing).toMatchObject({inserted: 0, updated: 1, deleted: 0})
      await editBySql('audio_processing', audio.id, 'qc_fail_ch3 = false, qc_fail = false')
      await force(logs.v1)
      expect(stable(await rowOf('audio_processing', audio.id))).toEqual(stable(audio))
      expect((await rowsCheck()).findings).toEqual([])
    })

    it('v4: a column the layout does not have at all is put back to what the import left (empty)', async () => {
      await editBySql('cycle_extraction_summaries', summary.id, 'acoustic_threshold = 0.5')
      expect(edited(await rowsCheck())).toEqual([['ROW_EDITED', 'cycle_extraction_summaries', summary.id]])
      const forced = await force(logs.v4)
      expect(forced.tables.cycle_extraction_summaries).toMatchObject({inserted: 0, updated: 1, deleted: 0})
      expect(stable(await rowOf('cycle_extraction_summaries', summary.id))).toEqual(stable(summary))
      const fixed = await rowsCheck()
      expect(fixed.findings).toEqual([])
      expect(fixed.resolved.map((f) => [f.code, f.id])).toEqual([['ROW_EDITED', summary.id]])
    })

    it('through the CLI: verify exits 3 naming the command, which puts the row back; verify then exits 0', async () => {
      await editBySql('audio_processing', audio.id, 'qc_fail_ch4 = true')
      // The CLI opens the database itself (an embedded one admits one process at a time).
      await opened.close()
      try {
        const verifyCli = () =>
          runCli(['verify', '--check', 'rows', '--json', '--database-url', database.url])
        const broken = await verifyCli()
        expect(broken.exitCode, broken.stderr).toBe(3)
        const findings = JSON.parse(broken.stdout).findings as Array<{
          code: string
          id: string
          message: string
        }>
        expect(findings.map((f) => [f.code, f.id])).toEqual([['ROW_EDITED', audio.id]])
        const named = /aedb backfill-excel --force '([^']+\.xlsx)'/.exec(findings[0]!.message)
        expect(named?.[1]).toBe(logs.v1)
        const forced = await runCli([
          'backfill-excel',
          '--force',
          named![1]!,
          '--json',
          '--database-url',
          database.url,
        ])
        expect(forced.exitCode, forced.stderr).toBe(0)
        const fixed = await verifyCli()
        expect(fixed.exitCode, fixed.stderr).toBe(0)
        const json = JSON.parse(fixed.stdout)
        expect(json.findings).toEqual([])
        expect(json.resolved.map((f: {code: string; id: string}) => [f.code, f.id])).toEqual([
          ['ROW_EDITED', audio.id],
        ])
      } finally {
        opened = await database.open()
      }
      expect(stable(await rowOf('audio_processing', audio.id))).toEqual(stable(audio))
    })

    it('without an earlier value in audit_log: the edit is not blessed, ROW_EDITED stays open and says how to restore by hand', async () => {
      // History lost (audit_log pruned): nothing says what qc_fail was before the edit.
      await sql`delete from audit_log where row_id = ${audio.id}`.execute(db())
      await editBySql('audio_processing', audio.id, `qc_fail = true, notes = 'by hand'`)
      const forced = await force(logs.v1)
      expect(forced.rejected).toEqual([])
      const after = await rowOf('audio_processing', audio.id)
      // The column the workbook has is restored from it; the one it lacks stays, and so does the hash of the import.
      expect(after).toMatchObject({notes: null, qc_fail: true})
      expect(after.content_hash).toBe(audio.content_hash)

      const still = await rowsCheck()
      expect(edited(still)).toEqual([['ROW_EDITED', 'audio_processing', audio.id]])
      expect(still.resolved).toEqual([])
      expect(still.ok).toBe(false)
      expect(still.findings[0]!.message).toContain('by hand')

      // Set back by hand to what was imported: the stored hash matches again and the finding is resolved.
      await editBySql('audio_processing', audio.id, 'qc_fail = null')
      const fixed = await rowsCheck()
      expect(fixed.findings).toEqual([])
      expect(fixed.resolved.map((f) => [f.code, f.id])).toEqual([['ROW_EDITED', audio.id]])
    })
  },
)
