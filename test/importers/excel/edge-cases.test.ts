import {cp, mkdir, mkdtemp, rm, stat, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import {readWorkbook} from '../../../src/importers/excel/read-workbook.js'
import {createTestDatabase, testBackends} from '../../support/backends.js'
import {countAll} from '../../support/db-snapshot.js'
import {kneeSampleDir} from '../../support/knee-samples.js'
import {columnOf, editWorkbook, useV4Tree, walkLogPath} from '../../support/knee-trees.js'

describe.each(testBackends())('backfill-excel edge cases on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('keeps unknown sheets, formula text and values the typed column cannot give back verbatim', async () => {
    await editWorkbook(walkLogPath(tree.root, '1019'), walkLogPath(tree.root, '1019'), (wb) => {
      wb.addWorksheet('Reviewer Notes').addRow(['Remark']).commit()
      wb.getWorksheet('Reviewer Notes')!.addRow(['pass 2 looks odd'])
      const sync = wb.getWorksheet('Synchronization')!
      sync.getRow(2).getCell(columnOf(sync, 'Error Message')).value = {formula: '= stomp missing'} as never
      sync.getRow(2).getCell(columnOf(sync, 'Consensus Methods')).value = '   '
    })
    const result = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(result.rejected).toEqual([])
    expect(result.warnings).toContainEqual(expect.objectContaining({code: 'UNKNOWN_SHEET'}))
    const log = await tree.db
      .selectFrom('processing_logs')
      .select('extra')
      .where('maneuver', '=', 'walk')
      .where('knee', '=', 'left')
      .executeTakeFirstOrThrow()
    expect(log.extra['Reviewer Notes > row 2']).toEqual({Remark: 'pass 2 looks odd'})
    const sync = await tree.db
      .selectFrom('synchronizations')
      .select(['error', 'consensus_methods', 'speed', 'extra'])
      .where('sync_file', '=', 'Left_walk_Pass0001_slow')
      .executeTakeFirstOrThrow()
    expect(sync.error).toBe('== stomp missing')
    expect(sync.consensus_methods).toBe('   ')
    const normal = await tree.db
      .selectFrom('synchronizations')
      .select(['speed', 'extra'])
      .where('sync_file', '=', 'Left_walk_Pass0001_normal')
      .executeTakeFirstOrThrow()
    expect(normal.speed).toBe('medium')
    expect(normal.extra.Speed).toBe('normal')
  })

  it('a run over one participant folder of an imported tree keeps the files and changes nothing', async () => {
    const before = await countAll(tree.db)
    const result = await backfillExcel({db: tree.db, paths: [path.join(tree.root, '#1019')], version: 'test'})
    expect(result.files).toMatchObject({seen: 8, unchanged: 8, imported: 0})
    expect(await countAll(tree.db)).toEqual({...before, runs: before.runs! + 1})
  })

  it('rejects two different workbooks of one log, and imports identical copies once', async () => {
    const backup = path.join(tree.root, '#1019', 'Left Knee', 'Walking', 'backup')
    await editWorkbook(
      walkLogPath(tree.root, '1019'),
      path.join(backup, 'processing_log_1019_Left_walk.xlsx'),
      (wb) => {
        const sync = wb.getWorksheet('Synchronization')!
        sync.getRow(3).getCell(columnOf(sync, 'Audio Sync Time (s)')).value = 99.5
      },
    )
    const fresh = await createTestDatabase(backend)
    const other = await fresh.open()
    try {
      const result = await backfillExcel({db: other.db, paths: [tree.root], version: 'test'})
      expect(result.rejected.filter((r) => r.code === 'DUPLICATE_LOG')).toHaveLength(2)
      expect(
        await other.db
          .selectFrom('processing_logs')
          .select('id')
          .where('maneuver', '=', 'walk')
          .where('knee', '=', 'left')
          .execute(),
      ).toEqual([])
      await rm(backup, {recursive: true})
      await cp(walkLogPath(tree.root, '1019'), path.join(backup, 'processing_log_1019_Left_walk.xlsx'))
      const again = await backfillExcel({db: other.db, paths: [tree.root], version: 'test'})
      expect(again.rejected).toEqual([])
      expect(again.warnings).toContainEqual(expect.objectContaining({code: 'SKIPPED'}))
    } finally {
      await other.close()
      await fresh.drop()
      await rm(backup, {recursive: true, force: true})
    }
  })

  it('refuses to replace a log by an older edition of it', async () => {
    const older = path.join(kneeSampleDir('v1-2025-12-28'), '#1019', 'Left Knee', 'Walking')
    const result = await backfillExcel({db: tree.db, paths: [older], study: 'AOA', version: 'test'})
    expect(result.rejected).toEqual([expect.objectContaining({code: 'STALE_LOG', column: 'Log Updated'})])
    expect(result.rejected[0]!.message).toContain('newer log of participant 1019 left walk')
    const walk = await tree.db
      .selectFrom('processing_logs')
      .select('format_version')
      .where('maneuver', '=', 'walk')
      .where('knee', '=', 'left')
      .executeTakeFirstOrThrow()
    expect(walk.format_version).toBe('v4')
  })
})

describe.each(testBackends())('backfill-excel refusals with a location on %s', (backend) => {
  const tree = useV4Tree(backend, ['1021'])

  it('rejects out-of-range counts and over-long keys at their cell, notes unreadable references, writes --rejects into a new folder', async () => {
    await editWorkbook(walkLogPath(tree.root, '1021'), walkLogPath(tree.root, '1021'), (wb) => {
      const sync = wb.getWorksheet('Synchronization')!
      sync.getRow(2).getCell(columnOf(sync, 'Pass Number')).value = -1
      sync.getRow(3).getCell(columnOf(sync, 'Sync File')).value = 'x'.repeat(1500)
    })
    const outside = await mkdtemp(path.join(tmpdir(), 'aedb-outside-'))
    const synced = path.join(tree.root, '#1021', 'Left Knee', 'Sit-Stand', 'Synced')
    await mkdir(synced, {recursive: true})
    await symlink(outside, path.join(synced, 'Left_sit_to_stand.pkl'))
    const rejects = path.join(tree.root, 'reports', 'today', 'rejects.xlsx')
    try {
      const result = await backfillExcel({
        db: tree.db,
        paths: [tree.root],
        rejectsFile: rejects,
        version: 'test',
      })
      expect(result.rejected).toEqual([
        expect.objectContaining({
          sheet: 'Synchronization',
          row: 2,
          column: 'Pass Number',
          code: 'INVALID_VALUE',
          message: 'found -1, expected a whole number of 0 or more',
        }),
        expect.objectContaining({
          sheet: 'Synchronization',
          row: 3,
          column: 'Sync File',
          code: 'INVALID_VALUE',
        }),
      ])
      expect(result.warnings).toContainEqual(expect.objectContaining({code: 'REFERENCE_UNREADABLE'}))
      expect(result.files).toMatchObject({imported: 7, rejected: 1})
      expect((await stat(rejects)).size).toBeGreaterThan(0)
    } finally {
      await rm(outside, {recursive: true, force: true})
    }
  })
})

describe.each(testBackends())('backfill-excel --rejects keeps the refused cell on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('gives a cell under an empty header back in --rejects, under the column its rejection names', async () => {
    const file = walkLogPath(tree.root, '1019')
    let column = 0
    let syncFile: unknown
    await editWorkbook(file, file, (wb) => {
      const sync = wb.getWorksheet('Synchronization')!
      column = sync.columnCount + 2
      sync.getRow(2).getCell(column).value = 'stray'
      syncFile = sync.getRow(2).getCell(columnOf(sync, 'Sync File')).value
    })
    const rejects = path.join(tree.root, 'rejects.xlsx')
    const result = await backfillExcel({
      db: tree.db,
      paths: [tree.root],
      rejectsFile: rejects,
      version: 'test',
    })
    expect(result.rejected).toContainEqual(
      expect.objectContaining({
        sheet: 'Synchronization',
        row: 2,
        column: `column ${column}`,
        code: 'HEADERLESS_CELL',
      }),
    )
    const sheet = (await readWorkbook(rejects)).sheets.find((s) => s.name === 'Synchronization')!
    const row = sheet.rows.map((r) => Object.fromEntries(r.cells)).find((r) => r.Code === 'HEADERLESS_CELL')!
    expect(row[`column ${column}`]).toBe('stray')
    expect(row['Sync File']).toBe(syncFile)
  })

  it('says a log of 0 bytes is empty, not damaged', async () => {
    const empty = walkLogPath(tree.root, '3009')
    await mkdir(path.dirname(empty), {recursive: true})
    await writeFile(empty, '')
    const result = await backfillExcel({db: tree.db, paths: [path.dirname(empty)], version: 'test'})
    expect(result.rejected).toEqual([
      expect.objectContaining({
        code: 'WORKBOOK_UNREADABLE',
        message: expect.stringMatching(/^the file is empty \(0 bytes\)/),
      }),
    ])
  })
})

describe.each(testBackends())('backfill-excel cycle count check on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('warns when Num Movement Cycles disagrees with the cycle rows, but not for a workbook it rejects', async () => {
    const file = walkLogPath(tree.root, '1019')
    const stated = (wb: Parameters<Parameters<typeof editWorkbook>[2]>[0]) => {
      const summary = wb.getWorksheet('Summary')!
      summary.getRow(2).getCell(columnOf(summary, 'Num Movement Cycles')).value = 999
    }
    await editWorkbook(file, file, stated)
    const warned = await backfillExcel({db: tree.db, paths: [file], version: 'test'})
    expect(warned.rejected).toEqual([])
    expect(warned.warnings).toContainEqual(
      expect.objectContaining({
        code: 'CYCLE_COUNT_MISMATCH',
        message: expect.stringMatching(/Num Movement Cycles is 999 but the log holds \d+ cycle rows/),
      }),
    )
    await editWorkbook(file, file, (wb) => {
      const cycles = wb.getWorksheet('Movement Cycles')!
      cycles.getRow(2).getCell(cycles.columnCount + 2).value = 'stray'
    })
    const rejected = await backfillExcel({db: tree.db, paths: [file], version: 'test'})
    expect(rejected.rejected).toContainEqual(expect.objectContaining({code: 'HEADERLESS_CELL'}))
    expect(rejected.warnings.filter((w) => w.code === 'CYCLE_COUNT_MISMATCH')).toEqual([])
  })
})
