import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import {readWorkbook} from '../../../src/importers/excel/read-workbook.js'
import {testBackends} from '../../support/backends.js'
import {kneeSampleDir} from '../../support/knee-samples.js'
import {columnOf, copyV4Participants, editWorkbook, useV4Tree} from '../../support/knee-trees.js'

describe.each(testBackends())('study, participant and knee-log checks on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('rejects a workbook whose study disagrees with --study, naming both', async () => {
    const result = await backfillExcel({db: tree.db, paths: [tree.root], study: 'preOA', version: 'test'})
    const walk = result.rejected.find((r) => r.file.endsWith('processing_log_1019_Left_walk.xlsx'))
    expect(walk).toMatchObject({code: 'STUDY_CONFLICT'})
    expect(walk!.message).toContain('AOA')
    expect(walk!.message).toContain('preOA')
    // The knee logs name no study; they follow their participant's maneuver logs, not --study.
    expect(result.files.imported).toBe(2)
    expect(await tree.db.selectFrom('processing_logs').select('id').execute()).toEqual([])
  })

  it('rejects logs that name no study when nothing else says, suggesting --study', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'aedb-rejects-'))
    try {
      const participant = path.join(kneeSampleDir('v1-2025-12-28'), '#1021')
      const result = await backfillExcel({
        db: tree.db,
        paths: [participant],
        version: 'test',
        rejectsFile: path.join(out, 'rejects.xlsx'),
      })
      expect(result.files.rejected).toBe(8)
      expect(result.rejected[0]).toMatchObject({code: 'STUDY_UNKNOWN', sheet: 'Summary', column: 'Study ID'})
      expect(result.rejected[0]!.message).toContain('pass --study')
      // Refused after parsing, when the log waited packed: --rejects still gives its Summary row's original cells.
      const rejects = await readWorkbook(path.join(out, 'rejects.xlsx'))
      const rows = rejects.sheets
        .find((s) => s.name === 'Summary')!
        .rows.map((r) => Object.fromEntries(r.cells))
      expect(rows).toHaveLength(8)
      for (const row of rows) {
        const file = path.join(participant, String(row.File))
        const summary = (await readWorkbook(file)).sheets.find((s) => s.name === 'Summary')!
        const original = Object.fromEntries(summary.rows.find((r) => r.rowNumber === 2)!.cells)
        const texts = Object.entries(original).filter(([, v]) => typeof v === 'string')
        expect(texts.length, file).toBeGreaterThanOrEqual(3)
        for (const [header, value] of texts) expect(row[header], `${file} ${header}`).toBe(value)
      }
    } finally {
      await rm(out, {recursive: true, force: true})
    }
  })

  it('takes the study from another workbook of the same participant already imported', async () => {
    const named = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(named.rejected).toEqual([])
    // #1021's v4 left-knee logs name AOA; its v1 right-knee logs name nothing and follow them.
    const v4 = await copyV4Participants(['1021'])
    try {
      const left = await backfillExcel({
        db: tree.db,
        paths: [path.join(v4, '#1021', 'Left Knee')],
        version: 'test',
      })
      expect(left.rejected).toEqual([])
      const result = await backfillExcel({
        db: tree.db,
        paths: [path.join(kneeSampleDir('v1-2025-12-28'), '#1021', 'Right Knee')],
        version: 'test',
      })
      expect(result.rejected).toEqual([])
      expect(result.files.imported).toBe(4)
    } finally {
      await rm(v4, {recursive: true, force: true})
    }
    const studies = await tree.db
      .selectFrom('participants as p')
      .innerJoin('studies as s', 's.id', 'p.study_id')
      .select(['s.name', 'p.participant_number'])
      .orderBy('p.participant_number')
      .execute()
    expect(studies).toEqual([
      {name: 'AOA', participant_number: 1019},
      {name: 'AOA', participant_number: 1021},
    ])
  })

  it('warns when a knee log disagrees with the maneuver log, and keeps an unknown column verbatim', async () => {
    const kneeLog = path.join(tree.root, '#1019', 'Left Knee', 'knee_processing_log_1019_Left.xlsx')
    await editWorkbook(kneeLog, kneeLog, (wb) => {
      const sheet = wb.getWorksheet('Maneuver Summaries')!
      sheet.getRow(2).getCell(columnOf(sheet, 'Num Movement Cycles')).value = 99
      sheet.getRow(1).getCell(sheet.columnCount + 1).value = 'Reviewer'
      sheet.getRow(2).getCell(sheet.columnCount).value = 'J. Doe'
    })
    const result = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(result.warnings).toContainEqual(
      expect.objectContaining({
        code: 'KNEE_LOG_MISMATCH',
        message: 'knee log says Num Movement Cycles = 99 for left walk, the maneuver log says 18',
      }),
    )
    expect(result.warnings).toContainEqual(expect.objectContaining({code: 'UNKNOWN_COLUMN'}))
    const row = await tree.db
      .selectFrom('knee_log_maneuvers')
      .select(['extra', 'num_movement_cycles'])
      .where('maneuver', '=', 'walk')
      .where('source_row', '=', 2)
      .execute()
    expect(row).toContainEqual({extra: {Reviewer: 'J. Doe'}, num_movement_cycles: 99})
  })
})
