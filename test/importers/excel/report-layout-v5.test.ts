import {mkdir, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import ExcelJS from 'exceljs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../../src/db/connection.js'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import type {ImportResult} from '../../../src/importers/import-session.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../../support/backends.js'

function sheet(workbook: ExcelJS.Workbook, name: string, header: string[], rows: unknown[][]): void {
  const ws = workbook.addWorksheet(name)
  ws.addRow(header)
  for (const row of rows) ws.addRow(row)
}

/**
 * The database-era report layout (spec v5, from source only; no legacy sample exists): Summary as Metric/Value
 * pairs, `Cycles` instead of Movement Cycles, Audio QC columns without the `Audio ` prefix, a `Knee Summary`.
 */
async function writeV5Reports(root: string): Promise<void> {
  const dir = path.join(root, '#AOA1011', 'Left Knee', 'Walking')
  await mkdir(dir, {recursive: true})
  const report = new ExcelJS.Workbook()
  sheet(
    report,
    'Summary',
    ['Metric', 'Value'],
    [
      ['Audio Records', 1],
      ['Biomechanics Records', 0],
      ['Synchronization Records', 1],
      ['Movement Cycles', 2],
    ],
  )
  sheet(
    report,
    'Audio',
    [
      'Study',
      'Study ID',
      'Audio File',
      'Knee',
      'Maneuver',
      'Status',
      'QC Fail Segments',
      'QC Signal Dropout',
    ],
    [['AOA', 1011, 'HP_W11.2-1-20240101_100000_with_freq', 'left', 'walk', 'success', '[(1.0, 2.0)]', false]],
  )
  sheet(report, 'Biomechanics', ['Note'], [['No biomechanics import recorded']])
  sheet(
    report,
    'Synchronization',
    [
      'Study',
      'Sync File',
      'Pass Number',
      'Speed',
      'Knee',
      'Processing Status',
      'Record Type',
      'Total Cycles Extracted',
      'Clean Cycles',
      'Outlier Cycles',
    ],
    [['AOA', 'Left_walk_Pass0001_slow', 1, 'slow', 'left', 'success', 'sync_with_cycles', 2, 1, 1]],
  )
  sheet(
    report,
    'Cycles',
    ['Study', 'Cycle File', 'Cycle Index', 'Is Outlier', 'Start (s)', 'End (s)', 'Pass Number', 'Speed'],
    [
      ['AOA', 'Left_walk_Pass0001_slow_cycle_000.pkl', 0, false, 1.0, 2.0, 1, 'slow'],
      ['AOA', 'Left_walk_Pass0001_slow_outlier_001.pkl', 1, true, 2.0, 3.5, 1, 'slow'],
    ],
  )
  await report.xlsx.writeFile(path.join(dir, 'processing_log_AOA1011_Left_walk.xlsx'))
  const knee = new ExcelJS.Workbook()
  sheet(
    knee,
    'Knee Summary',
    ['Maneuver', 'Audio Records', 'Biomechanics Records', 'Synchronization Records', 'Movement Cycles'],
    [['walk', 1, 0, 1, 2]],
  )
  await knee.xlsx.writeFile(path.join(root, '#AOA1011', 'Left Knee', 'knee_processing_log_AOA1011_Left.xlsx'))
}

describe.each(testBackends())('database-era (v5) reports on %s', (backend) => {
  let testDb: TestDatabase
  let open: OpenDatabase
  let root: string
  let result: ImportResult

  beforeAll(async () => {
    testDb = await createTestDatabase(backend)
    open = await testDb.open()
    root = await mkdtemp(path.join(tmpdir(), 'aedb-v5-'))
    await writeV5Reports(root)
    result = await backfillExcel({db: open.db, paths: [root], version: 'test'})
  })

  afterAll(async () => {
    await open?.close()
    await testDb?.drop()
    if (root) await rm(root, {recursive: true, force: true})
  })

  it('imports both reports, with study and participant from the prefixed id', async () => {
    expect(result.rejected).toEqual([])
    expect(result.files.imported).toBe(2)
    const log = await open.db
      .selectFrom('processing_logs as l')
      .innerJoin('participants as p', 'p.id', 'l.participant_id')
      .innerJoin('studies as s', 's.id', 'p.study_id')
      .select([
        'l.format_version',
        'l.knee',
        'l.maneuver',
        'l.num_movement_cycles',
        'l.extra',
        's.name',
        'p.participant_number',
      ])
      .executeTakeFirstOrThrow()
    expect(log).toMatchObject({
      format_version: 'v5',
      knee: 'left',
      maneuver: 'walk',
      num_movement_cycles: 2,
      name: 'AOA',
      participant_number: 1011,
    })
    expect(log.extra).toMatchObject({
      'Metric: Audio Records': 1,
      'Biomechanics > Note': 'No biomechanics import recorded',
    })
  })

  it('maps the renamed QC columns and links cycles to their synchronization', async () => {
    const audio = await open.db
      .selectFrom('audio_processing')
      .select(['qc_fail_segments', 'qc_signal_dropout'])
      .executeTakeFirstOrThrow()
    expect(audio).toEqual({qc_fail_segments: [1, 2], qc_signal_dropout: false})
    const summary = await open.db
      .selectFrom('cycle_extraction_summaries')
      .select(['clean_cycles', 'outlier_cycles', 'synchronization_id'])
      .executeTakeFirstOrThrow()
    expect(summary).toMatchObject({clean_cycles: 1, outlier_cycles: 1})
    const cycles = await open.db
      .selectFrom('movement_cycles')
      .select(['is_outlier', 'sync_file', 'synchronization_id'])
      .orderBy('cycle_index')
      .execute()
    expect(cycles).toEqual([
      {
        is_outlier: false,
        sync_file: 'Left_walk_Pass0001_slow',
        synchronization_id: summary.synchronization_id,
      },
      {
        is_outlier: true,
        sync_file: 'Left_walk_Pass0001_slow',
        synchronization_id: summary.synchronization_id,
      },
    ])
    const knee = await open.db.selectFrom('knee_logs').select('format_version').executeTakeFirstOrThrow()
    expect(knee.format_version).toBe('v5')
    expect(result.warnings.filter((w) => w.code === 'KNEE_LOG_MISMATCH')).toEqual([])
  })
})
