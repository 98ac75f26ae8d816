import {execFileSync} from 'node:child_process'
import {mkdtemp, rename, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import ExcelJS from 'exceljs'
import type {Kysely} from 'kysely'
import {describe, expect, it} from 'vitest'
import {moveParticipant} from '../../../src/db/move-participant.js'
import type {Database} from '../../../src/db/schema.js'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import {
  isAedbWrittenWorkbook,
  markAedbWorkbook,
} from '../../../src/importers/excel/is-aedb-written-workbook.js'
import {createTestDatabase, testBackends} from '../../support/backends.js'
import {kneeSampleDir} from '../../support/knee-samples.js'
import {
  addGeneratedSheet,
  columnOf,
  editWorkbook,
  editWorkbookXml,
  useV4Tree,
  V4,
  walkLogPath,
} from '../../support/knee-trees.js'

/** `Log Created` of knee-ae-excel.md §2: serial 46348.07396053536 is 2026-11-22 01:46:30.190255. */
const MICRO_SERIAL = '46348.07396053536'
const MICRO_TEXT = '2026-11-22 01:46:30.190255'

describe.each(testBackends())('backfill-excel keeps what the workbook said on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('keeps the microseconds of date cells, in typed columns and in extra', async () => {
    // Summary is sheet1; E2 is Log Created. A date cell in an unknown column K goes to extra.
    await editWorkbookXml(walkLogPath(tree.root, '1019'), 'xl/worksheets/sheet1.xml', (xml) =>
      xml
        .replace(/(<c r="E2"[^>]*><v>)[^<]*(<\/v>)/, `$1${MICRO_SERIAL}$2`)
        .replace(/(<c r="J1"[^>]*>.*?<\/c>)/, '$1<c r="K1" t="inlineStr"><is><t>Reviewed At</t></is></c>')
        .replace(/(<c r="J2"[^>]*>.*?<\/c>)/, `$1<c r="K2" s="2" t="n"><v>${MICRO_SERIAL}</v></c>`)
        .replace(/<dimension ref="A1:J2"\/>/, '<dimension ref="A1:K2"/>'),
    )
    const result = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(result.rejected).toEqual([])
    const log = await tree.db
      .selectFrom('processing_logs')
      .select(['log_created', 'extra'])
      .where('maneuver', '=', 'walk')
      .where('knee', '=', 'left')
      .executeTakeFirstOrThrow()
    expect(log.log_created).toBe(MICRO_TEXT)
    expect(log.extra['Reviewed At']).toBe(MICRO_TEXT)
  })
})

describe.each(testBackends())('a participant belongs to one study on %s', (backend) => {
  const tree = useV4Tree(backend, ['2037'])

  it('refuses a log that would put a stored participant in a second study, until it is moved (audited)', async () => {
    const v1 = path.join(kneeSampleDir('v1-2025-12-28'), '#2037')
    const first = await backfillExcel({db: tree.db, paths: [v1], study: 'AOA', version: 'test'})
    expect(first.rejected).toEqual([])
    const v4 = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(v4.rejected.length).toBeGreaterThan(0)
    for (const r of v4.rejected) {
      expect(r).toMatchObject({code: 'PARTICIPANT_IN_OTHER_STUDY', sheet: 'Summary', row: 2})
      expect(r.message).toContain('participant 2037 is already in study AOA')
      expect(r.message).toContain(`set by run ${first.runId}`)
      expect(r.message).toContain('this log puts it in study preOA')
      expect(r.message).toContain('aedb move-participant 2037 --to preOA')
    }
    expect(await studiesOf(tree.db, 2037)).toEqual(['AOA'])

    const moved = await moveParticipant({db: tree.db, participantNumber: 2037, to: 'preOA', version: 'test'})
    expect(moved).toMatchObject({from: 'AOA', to: 'preOA', moved: true})
    const run = await tree.db
      .selectFrom('runs')
      .select(['command', 'outcome'])
      .where('id', '=', moved.runId!)
      .executeTakeFirstOrThrow()
    expect(run).toEqual({command: 'move-participant', outcome: 'succeeded'})
    const audit = await tree.db
      .selectFrom('audit_log')
      .select(['operation', 'old_values', 'new_values'])
      .where('table_name', '=', 'participants')
      .where('run_id', '=', moved.runId!)
      .execute()
    expect(audit).toHaveLength(1)
    expect(audit[0]!.operation).toBe('update')
    expect(audit[0]!.old_values).not.toEqual(audit[0]!.new_values)

    const again = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(again.rejected).toEqual([])
    expect(await studiesOf(tree.db, 2037)).toEqual(['preOA'])
    const versions = await tree.db.selectFrom('processing_logs').select('format_version').distinct().execute()
    expect(versions).toEqual([{format_version: 'v4'}])
    await expect(
      moveParticipant({db: tree.db, participantNumber: 9999, to: 'AOA', version: 'test'}),
    ).rejects.toMatchObject({code: 'PARTICIPANT_NOT_FOUND', exit: 3})
  })
})

async function studiesOf(db: Kysely<Database>, number: number): Promise<string[]> {
  const rows = await db
    .selectFrom('participants')
    .innerJoin('studies', 'studies.id', 'participants.study_id')
    .select('studies.name')
    .where('participant_number', '=', number)
    .orderBy('studies.name')
    .execute()
  return rows.map((r) => r.name)
}

describe('isAedbWrittenWorkbook', () => {
  it('reads the kind from the marker sheet or the document properties, and null from a legacy log', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'aedb-marker-'))
    try {
      const tables = new ExcelJS.Workbook()
      tables.company = 'aedb:tables'
      tables.addWorksheet('participants').addRow(['id'])
      await tables.xlsx.writeFile(path.join(dir, 'tables.xlsx'))
      const legacy = new ExcelJS.Workbook()
      markAedbWorkbook(legacy, 'legacy')
      legacy.addWorksheet('Summary').addRow(['Study ID'])
      await legacy.xlsx.writeFile(path.join(dir, 'legacy.xlsx'))
      expect(await isAedbWrittenWorkbook(path.join(dir, 'tables.xlsx'))).toBe('tables')
      expect(await isAedbWrittenWorkbook(path.join(dir, 'legacy.xlsx'))).toBe('legacy')
      expect(await isAedbWrittenWorkbook(walkLogPath(kneeSampleDir(V4), '1019'))).toBeNull()
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})

describe.each(testBackends())('aedb never imports its own workbooks on %s', (backend) => {
  const tree = useV4Tree(backend, ['1021'])

  it('skips its --rejects workbook inside the tree and alone, and reads a legacy-layout export without its marker', async () => {
    await editWorkbook(walkLogPath(tree.root, '1021'), walkLogPath(tree.root, '1021'), (wb) => {
      const summary = wb.getWorksheet('Summary')!
      summary.getRow(2).getCell(columnOf(summary, 'Num Synced Files')).value = 'abc'
    })
    const rejects = path.join(tree.root, 'rejects.xlsx')
    const first = await backfillExcel({
      db: tree.db,
      paths: [tree.root],
      rejectsFile: rejects,
      version: 'test',
    })
    expect(first.rejected).toEqual([expect.objectContaining({sheet: 'Summary', column: 'Num Synced Files'})])
    expect(await isAedbWrittenWorkbook(rejects)).toBe('rejects')

    const second = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(second.rejected).toHaveLength(1)
    expect(second.warnings).toContainEqual(
      expect.objectContaining({
        code: 'SKIPPED',
        file: rejects,
        message: expect.stringContaining('aedb:rejects'),
      }),
    )
    const alone = await backfillExcel({
      db: tree.db,
      paths: [rejects],
      study: 'AOA',
      coerceInvalid: true,
      version: 'test',
    })
    expect(alone.files).toMatchObject({seen: 1, skipped: 1, imported: 0})
    expect(await tree.db.selectFrom('participants').select('participant_number').execute()).toEqual([
      {participant_number: 1021},
    ])

    // An export in the legacy layout carries the marker too, and is imported like the log it copies.
    await editWorkbook(walkLogPath(tree.root, '1021'), walkLogPath(tree.root, '1021'), (wb) => {
      const summary = wb.getWorksheet('Summary')!
      summary.getRow(2).getCell(columnOf(summary, 'Num Synced Files')).value = 4
      markAedbWorkbook(wb, 'legacy')
    })
    const legacy = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(legacy.rejected).toEqual([])
    expect(legacy.warnings.filter((w) => w.code === 'UNKNOWN_SHEET')).toEqual([])
    const walk = await tree.db
      .selectFrom('processing_logs')
      .select(['num_synced_files', 'extra'])
      .where('maneuver', '=', 'walk')
      .where('knee', '=', 'left')
      .executeTakeFirstOrThrow()
    expect(walk.num_synced_files).toBe(4)
    expect(Object.keys(walk.extra).filter((k) => k.includes('_aedb'))).toEqual([])
  })
})

describe.each(testBackends())('interval text on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('keeps the verbatim interval text in extra whenever the typed value does not print back to it', async () => {
    const written = {
      'Audio QC Fail Segments': '[(1.25, 2.5), (10.0, 10.75)]',
      'Audio QC Fail Segments Ch1': '[(1.25, 2.50), (10, 10.75)]',
      'Audio QC Fail Segments Ch2': '[[1.25, 2.5], [10.0, 10.75]]',
      'Audio QC Fail Segments Ch3': '[(1e-05, 2.5)]',
      'Audio QC Fail Segments Ch4': '[(1.25, 2.5), (1e+16, 2e+16)]',
    }
    await editWorkbook(walkLogPath(tree.root, '1019'), walkLogPath(tree.root, '1019'), (wb) => {
      const audio = wb.getWorksheet('Audio')!
      for (const [header, text] of Object.entries(written))
        audio.getRow(2).getCell(columnOf(audio, header)).value = text
    })
    const result = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(result.rejected).toEqual([])
    const audio = await tree.db
      .selectFrom('audio_processing')
      .innerJoin('processing_logs', 'processing_logs.id', 'audio_processing.processing_log_id')
      .select([
        'audio_processing.qc_fail_segments',
        'audio_processing.qc_fail_segments_ch1',
        'audio_processing.qc_fail_segments_ch3',
        'audio_processing.qc_fail_segments_ch4',
        'audio_processing.extra',
      ])
      .where('processing_logs.maneuver', '=', 'walk')
      .where('processing_logs.knee', '=', 'left')
      .executeTakeFirstOrThrow()
    expect(audio.qc_fail_segments).toEqual([1.25, 2.5, 10, 10.75])
    expect(audio.qc_fail_segments_ch3).toEqual([0.00001, 2.5])
    expect(audio.qc_fail_segments_ch4).toEqual([1.25, 2.5, 1e16, 2e16])
    expect(audio.extra['Audio QC Fail Segments']).toBeUndefined()
    for (const header of Object.keys(written).slice(1))
      expect(audio.extra[header], header).toBe(written[header as keyof typeof written])
  })
})

describe.each(testBackends())('import order does not decide a layout on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('gives knee logs the same format_version and content hash in one run or two, either order', async () => {
    const one = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(one.rejected).toEqual([])
    const reference = await logHashes(tree.db)
    expect(reference.filter((r) => r.kind === 'knee').map((r) => r.format_version)).toEqual(['v4', 'v4'])

    const fresh = await createTestDatabase(backend)
    const other = await fresh.open()
    const aside = await mkdtemp(path.join(tmpdir(), 'aedb-aside-'))
    const held = [
      'Right Knee/knee_processing_log_1019_Right.xlsx',
      'Left Knee/Walking',
      'Left Knee/Sit-Stand',
      'Left Knee/Flexion-Extension',
    ]
    try {
      // Run 1: the left knee log alone (its maneuver logs come later), and the right maneuver logs alone.
      for (const [i, part] of held.entries())
        await rename(path.join(tree.root, '#1019', part), path.join(aside, String(i)))
      const first = await backfillExcel({db: other.db, paths: [tree.root], version: 'test'})
      expect(first.rejected).toEqual([])
      // Alone, the left knee log cannot tell v2 from v4 (the ambiguity of issue 9 item 4).
      expect((await logHashes(other.db)).find((r) => r.kind === 'knee')).toMatchObject({
        knee: 'left',
        format_version: 'v2',
      })
      for (const [i, part] of held.entries())
        await rename(path.join(aside, String(i)), path.join(tree.root, '#1019', part))
      const second = await backfillExcel({db: other.db, paths: [tree.root], version: 'test'})
      expect(second.rejected).toEqual([])
      expect(await logHashes(other.db)).toEqual(reference)
    } finally {
      await other.close()
      await fresh.drop()
      await rm(aside, {recursive: true, force: true})
    }
  })
})

async function logHashes(db: Kysely<Database>) {
  const knee = await db
    .selectFrom('knee_logs')
    .select(['knee', 'format_version', 'content_hash'])
    .orderBy('knee')
    .execute()
  const maneuver = await db
    .selectFrom('processing_logs')
    .select(['knee', 'maneuver', 'format_version', 'content_hash'])
    .orderBy('knee')
    .orderBy('maneuver')
    .execute()
  return [...knee.map((k) => ({kind: 'knee', ...k})), ...maneuver.map((m) => ({kind: 'maneuver', ...m}))]
}

describe.each(testBackends())('participant numbers from names and cells on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('warns when the name and the Study ID disagree, and rejects an out-of-range name without stopping the run', async () => {
    const setStudyId = (value: string | null) => (wb: ExcelJS.Workbook) => {
      const summary = wb.getWorksheet('Summary')!
      summary.getRow(2).getCell(columnOf(summary, 'Study ID')).value = value
    }
    const real = walkLogPath(tree.root, '1019')
    await editWorkbook(real, walkLogPath(tree.root, '99999999999'), setStudyId('1015'))
    await editWorkbook(real, walkLogPath(tree.root, '5012'), setStudyId('-5'))
    await editWorkbook(real, walkLogPath(tree.root, '99999999998'), setStudyId(null))
    const result = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})

    expect(result.rejected).toEqual([
      {
        file: '#99999999998/Left Knee/Walking/processing_log_99999999998_Left_walk.xlsx',
        sheet: 'Summary',
        row: 2,
        column: 'Study ID',
        code: 'PARTICIPANT_OUT_OF_RANGE',
        message: expect.stringContaining('says participant 99999999998, out of range'),
      },
    ])
    const mismatches = result.warnings.filter((w) => w.code === 'PARTICIPANT_MISMATCH').map((w) => w.message)
    expect(mismatches).toContainEqual(
      expect.stringMatching(
        /^#99999999999\/.*processing_log_99999999999_Left_walk\.xlsx > Summary > row 2 > Study ID: Study ID says participant 1015 but the folder #99999999999 says 99999999999; used 1015$/,
      ),
    )
    expect(mismatches).toContainEqual(expect.stringContaining('Study ID "-5" is not a participant number'))
    expect(mismatches).toContainEqual(expect.stringContaining('used participant 5012 from the folder #5012'))
    const numbers = await tree.db
      .selectFrom('participants')
      .select('participant_number')
      .orderBy('participant_number')
      .execute()
    expect(numbers.map((n) => n.participant_number)).toEqual([1015, 1019, 5012])
    expect(result.files).toMatchObject({rejected: 1, imported: 10})
  })
})

describe.each(testBackends())('files that are not regular files on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('skips a FIFO named like a workbook, given on the command line or inside the tree, without opening it', async () => {
    const fifo = path.join(
      tree.root,
      '#1019',
      'Left Knee',
      'Walking',
      'processing_log_1019_Left_walk_copy.xlsx',
    )
    execFileSync('mkfifo', [fifo])
    const result = await backfillExcel({db: tree.db, paths: [tree.root, fifo], version: 'test'})
    expect(result.rejected).toEqual([])
    expect(result.files).toMatchObject({imported: 8})
    expect(result.warnings).toContainEqual(
      expect.objectContaining({
        code: 'SKIPPED',
        file: fifo,
        message: expect.stringContaining('not a regular file'),
      }),
    )
  }, 30_000)
})

describe.each(testBackends())('sheets beyond the size limit on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019', '1021'])

  it('rejects a workbook with a 1,000,000-row unknown sheet before parsing it, and imports the others', async () => {
    const huge = walkLogPath(tree.root, '1021')
    await addGeneratedSheet(huge, 'Raw Dump', 1_000_000)
    const result = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(result.rejected).toEqual([
      {
        file: '#1021/Left Knee/Walking/processing_log_1021_Left_walk.xlsx',
        sheet: 'Raw Dump',
        row: null,
        column: null,
        code: 'SHEET_TOO_LARGE',
        message: expect.stringContaining(
          'has 1,000,001 rows × 3 columns (A1:C1000001); expected at most 100,000 rows',
        ),
      },
    ])
    expect(result.files).toMatchObject({imported: 15, rejected: 1})
  }, 120_000)
})
