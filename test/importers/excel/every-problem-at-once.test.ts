import {mkdir} from 'node:fs/promises'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import {testBackends} from '../../support/backends.js'
import {columnOf, editWorkbook, renumber, useV4Tree, walkLogPath} from '../../support/knee-trees.js'

describe.each(testBackends())('every problem of a workbook in one run (%s)', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('two missing columns in two sheets, an unknown study value and no study: all reported, nothing written', async () => {
    const bad = walkLogPath(tree.root, '9003')
    await mkdir(path.dirname(bad), {recursive: true})
    await editWorkbook(walkLogPath(tree.root, '1019'), bad, (wb) => {
      renumber(wb, '9003')
      const summary = wb.getWorksheet('Summary')!
      summary.getRow(1).getCell(columnOf(summary, 'Maneuver')).value = 'Manoeuvre'
      const sync = wb.getWorksheet('Synchronization')!
      sync.getRow(1).getCell(columnOf(sync, 'Sync File')).value = 'Sync Files'
      for (const name of ['Audio', 'Synchronization', 'Movement Cycles']) {
        const sheet = wb.getWorksheet(name)!
        const column = columnOf(sheet, 'Study')
        sheet.eachRow((row, n) => {
          if (n > 1) row.getCell(column).value = 'AOB'
        })
      }
    })
    const result = await backfillExcel({db: tree.db, paths: [path.join(tree.root, '#9003')], version: 'test'})
    expect(result.files.rejected).toBe(1)
    const problems = result.rejected.map((r) => [r.sheet, r.column, r.code])
    expect(problems).toEqual(
      expect.arrayContaining([
        ['Summary', 'Maneuver', 'MISSING_COLUMN'],
        ['Synchronization', 'Sync File', 'MISSING_COLUMN'],
        ['Audio', 'Study', 'INVALID_VALUE'],
        ['Movement Cycles', 'Study', 'INVALID_VALUE'],
        ['Summary', 'Study ID', 'STUDY_UNKNOWN'],
      ]),
    )
    const study = result.rejected.find((r) => r.sheet === 'Audio' && r.column === 'Study')!
    expect(study.message).toMatch(/^found "AOB"( \(in \d+ rows\))?, expected one of AOA, preOA, SMoCK$/)
    expect(study.row).toBe(2)
    for (const r of result.rejected)
      expect(r.file).toBe('Left Knee/Walking/processing_log_9003_Left_walk.xlsx')
    expect(await tree.db.selectFrom('participants').select('id').execute()).toEqual([])
  })
})
