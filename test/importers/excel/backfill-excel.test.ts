import path from 'node:path'
import ExcelJS from 'exceljs'
import fg from 'fast-glob'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../../src/db/connection.js'
import {IMPORTED_TABLES} from '../../../src/db/schema.js'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import * as FIELD_MAPS from '../../../src/importers/excel/field-maps.js'
import type {StudyName} from '../../../src/importers/excel/parse-log.js'
import type {ImportResult} from '../../../src/importers/import-session.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../../support/backends.js'
import {
  KNEE_SAMPLE_VERSIONS,
  type KneeSampleVersion,
  kneeSampleDir,
  type ManifestManeuverFile,
  participantFoldersByStudy,
  readKneeManifest,
} from '../../support/knee-samples.js'

const MANEUVER_CODE = {walk: 'walk', sit_to_stand: 'sts', flexion_extension: 'fe'} as const
/** The knee-study tables: the imported tables before the media ones. */
const DATA_TABLES = IMPORTED_TABLES.slice(0, IMPORTED_TABLES.indexOf('profiles')) as Array<
  Exclude<(typeof IMPORTED_TABLES)[number], 'profiles' | 'recordings' | 'stems' | 'processed_hashes'>
>

/** Imports a sample tree the way a data manager would: v4 names its studies; v1-v3 need --study per group. */
async function importSample(db: OpenDatabase['db'], version: KneeSampleVersion): Promise<ImportResult[]> {
  if (version.startsWith('v4'))
    return [await backfillExcel({db, paths: [kneeSampleDir(version)], version: 'test'})]
  const results: ImportResult[] = []
  for (const [study, folders] of participantFoldersByStudy(version)) {
    results.push(await backfillExcel({db, paths: folders, study: study as StudyName, version: 'test'}))
  }
  return results
}

/** The files row of a sample workbook (v1-v3 are imported per participant folder, so their root is that folder). */
function fileIdOf(db: OpenDatabase['db'], relPath: string) {
  const tail = relPath.split('/').slice(1).join('/')
  return db
    .selectFrom('files')
    .select(['id'])
    .where('rel_path', 'in', [relPath, tail])
    .where('kind', '=', 'workbook')
    .executeTakeFirst()
}

describe.each(testBackends())('backfill-excel on %s', (backend) => {
  describe.each(KNEE_SAMPLE_VERSIONS)('sample tree %s', (version) => {
    const manifest = readKneeManifest(version)
    const maneuverFiles = manifest.files.filter((f): f is ManifestManeuverFile => f.kind === 'maneuver')
    let testDb: TestDatabase
    let open: OpenDatabase
    let results: ImportResult[]

    beforeAll(async () => {
      testDb = await createTestDatabase(backend)
      open = await testDb.open()
      results = await importSample(open.db, version)
    })

    afterAll(async () => {
      await open?.close()
      await testDb?.drop()
    })

    it('imports every workbook and rejects none', () => {
      const files = results.map((r) => r.files)
      expect(results.flatMap((r) => r.rejected)).toEqual([])
      expect(files.reduce((n, f) => n + f.imported, 0)).toBe(manifest.files.length)
      expect(files.reduce((n, f) => n + f.seen, 0)).toBe(manifest.files.length)
      expect(results.flatMap((r) => r.warnings).filter((w) => w.code !== 'ROWS_REMOVED')).toEqual([])
    })

    it('has as many logs, syncs, summaries and cycles as the manifest', async () => {
      const count = async (table: (typeof DATA_TABLES)[number]) =>
        (await sql<{n: number}>`select count(*)::int as n from ${sql.table(table)}`.execute(open.db)).rows[0]!
          .n
      expect(await count('processing_logs')).toBe(maneuverFiles.length)
      expect(await count('knee_logs')).toBe(manifest.files.length - maneuverFiles.length)
      expect(await count('synchronizations')).toBe(maneuverFiles.reduce((n, f) => n + f.num_sync_records, 0))
      expect(await count('cycle_extraction_summaries')).toBe(
        maneuverFiles.reduce((n, f) => n + f.num_cycle_summary_records, 0),
      )
      expect(await count('movement_cycles')).toBe(maneuverFiles.reduce((n, f) => n + f.total_cycles, 0))
      // The per-table counts the run reported are what the database holds.
      for (const table of DATA_TABLES) {
        expect(
          results.reduce((n, r) => n + (r.tables[table]?.inserted ?? 0), 0),
          table,
        ).toBe(await count(table))
      }
    })

    it('holds the statuses, passes, speeds and cycle counts of every log in the manifest', async () => {
      const db = open.db
      for (const file of maneuverFiles) {
        const source = await fileIdOf(db, file.path)
        expect(source, file.path).toBeDefined()
        const log = await db
          .selectFrom('processing_logs as l')
          .innerJoin('participants as p', 'p.id', 'l.participant_id')
          .innerJoin('studies as s', 's.id', 'p.study_id')
          .select([
            'l.id',
            'l.knee',
            'l.maneuver',
            'l.extra',
            'p.participant_number',
            's.name as study',
            'l.num_movement_cycles',
          ])
          .where('l.source_file_id', '=', source!.id)
          .executeTakeFirstOrThrow()
        expect(log.study).toBe(file.study)
        expect(log.participant_number).toBe(Number(file.study_id))
        expect(log.knee).toBe(file.knee.toLowerCase())
        expect(log.maneuver).toBe(MANEUVER_CODE[file.maneuver])
        expect(log.num_movement_cycles).toBe(file.total_cycles)
        const audio = await db
          .selectFrom('audio_processing')
          .select(['status', 'audio_file'])
          .where('processing_log_id', '=', log.id)
          .execute()
        expect(audio.map((a) => a.status)).toEqual(file.audio_status === null ? [] : [file.audio_status])
        if (file.audio_status !== null) expect(audio[0]!.audio_file).toBe(file.audio_file)
        const biomechanics = await db
          .selectFrom('biomechanics_imports')
          .select('id')
          .where('processing_log_id', '=', log.id)
          .execute()
        expect(biomechanics.length > 0).toBe(file.biomechanics_present)
        for (const sheet of file.placeholder_note_sheets)
          expect(log.extra[`${sheet} > Note`], sheet).toMatch(/^No .* recorded$/)
        const syncs = await db
          .selectFrom('synchronizations as s')
          .leftJoin('cycle_extraction_summaries as c', 'c.synchronization_id', 's.id')
          .select([
            's.id',
            's.sync_file',
            's.status',
            's.pass_number',
            's.speed',
            'c.clean_cycles',
            'c.outlier_cycles',
          ])
          .where('s.processing_log_id', '=', log.id)
          .execute()
        expect(syncs).toHaveLength(file.num_sync_records)
        for (const expected of file.syncs) {
          const sync = syncs.find((s) => s.sync_file === expected.sync_file)
          expect(sync, `${file.path} ${expected.sync_file}`).toBeDefined()
          expect(sync!.status).toBe(expected.status)
          expect(sync!.pass_number).toBe(expected.pass_number)
          expect(sync!.speed).toBe(expected.speed === 'normal' ? 'medium' : expected.speed)
          expect(sync!.clean_cycles ?? 0).toBe(expected.clean_cycles)
          expect(sync!.outlier_cycles ?? 0).toBe(expected.outlier_cycles)
          const cycles = await db
            .selectFrom('movement_cycles')
            .select(['is_outlier'])
            .where('processing_log_id', '=', log.id)
            .where('sync_file', '=', expected.sync_file)
            .execute()
          expect(cycles.filter((c) => !c.is_outlier).length).toBe(expected.clean_cycles)
          expect(cycles.filter((c) => c.is_outlier).length).toBe(expected.outlier_cycles)
          expect(
            (
              await db
                .selectFrom('movement_cycles')
                .select('id')
                .where('sync_file', '=', expected.sync_file)
                .where('processing_log_id', '=', log.id)
                .where('synchronization_id', '=', sync!.id)
                .execute()
            ).length,
          ).toBe(cycles.length)
        }
      }
      for (const file of manifest.files.filter((f) => f.kind === 'knee')) {
        const source = await fileIdOf(db, file.path)
        const knee = await db
          .selectFrom('knee_logs')
          .select(['id', 'knee'])
          .where('source_file_id', '=', source!.id)
          .executeTakeFirstOrThrow()
        expect(knee.knee).toBe(file.knee.toLowerCase())
        const maneuvers = await db
          .selectFrom('knee_log_maneuvers')
          .select('maneuver')
          .where('knee_log_id', '=', knee.id)
          .orderBy('source_row')
          .execute()
        expect(maneuvers.map((m) => m.maneuver)).toEqual(
          file.maneuvers.map((m) => MANEUVER_CODE[m as keyof typeof MANEUVER_CODE]),
        )
      }
    })

    it('labels every log with its tree layout', async () => {
      const expected = version.slice(0, 2)
      const logs = await open.db.selectFrom('processing_logs').select('format_version').execute()
      const knees = await open.db.selectFrom('knee_logs').select('format_version').execute()
      expect(new Set(logs.map((l) => l.format_version))).toEqual(new Set([expected]))
      expect(new Set(knees.map((l) => l.format_version))).toEqual(new Set([expected]))
    })

    it('keeps every non-empty cell of every sheet, typed or verbatim, with its sheet and row', async () => {
      const db = open.db
      const fields = Object.values(FIELD_MAPS).filter(Array.isArray).flat() as FIELD_MAPS.FieldMap[]
      let checked = 0
      for (const relPath of await fg('**/*.xlsx', {cwd: kneeSampleDir(version)})) {
        const source = (await fileIdOf(db, relPath))!
        const stored: Array<{table: string; row: Record<string, unknown>}> = []
        for (const table of DATA_TABLES) {
          const rows = await db
            .selectFrom(table)
            .selectAll()
            .where('source_file_id', '=', source.id)
            .execute()
          stored.push(...rows.map((row) => ({table, row: row as Record<string, unknown>})))
        }
        const log = stored.find((s) => s.table === 'processing_logs' || s.table === 'knee_logs')!
        // Read with exceljs directly, not through the importer's reader, so a cell it drops cannot hide.
        const workbook = new ExcelJS.Workbook()
        await workbook.xlsx.readFile(path.join(kneeSampleDir(version), relPath))
        for (const sheet of workbook.worksheets) {
          const headers = new Map<number, string>()
          sheet.getRow(1).eachCell((cell, column) => headers.set(column, String(cell.value)))
          sheet.eachRow((row, rowNumber) => {
            if (rowNumber === 1) return
            row.eachCell((cell, column) => {
              const raw = cell.value as string | number | boolean | Date
              const header = headers.get(column)!
              checked++
              const where = `${relPath} > ${sheet.name} > row ${rowNumber} > ${header}`
              if (header === 'Note' && headers.size === 1) {
                expect((log.row.extra as Record<string, unknown>)[`${sheet.name} > Note`], where).toBe(raw)
                return
              }
              const here = stored.filter(
                (s) => s.row.source_sheet === sheet.name && s.row.source_row === rowNumber,
              )
              expect(here.length, where).toBeGreaterThan(0)
              const found = here.some(({row: dbRow}) => {
                const kept = (dbRow.extra as Record<string, unknown>)[header]
                if (kept !== undefined) return sameAsCell(kept, raw)
                return fields.some(
                  (field) =>
                    field.headers.includes(header) &&
                    field.column in dbRow &&
                    sameAsCell(dbRow[field.column], raw),
                )
              })
              expect(found, `${where} = ${JSON.stringify(raw)}`).toBe(true)
            })
          })
        }
      }
      expect(checked).toBeGreaterThan(1000)
    })

    it('changes nothing when run again', async () => {
      const before = await sql<{n: number}>`select count(*)::int as n from audit_log`.execute(open.db)
      const again = await importSample(open.db, version)
      for (const result of again) {
        expect(result.files.unchanged).toBe(result.files.seen)
        expect(result.files.imported).toBe(0)
        for (const counts of Object.values(result.tables)) {
          expect(counts.inserted + counts.updated).toBe(0)
        }
      }
      const after = await sql<{n: number}>`select count(*)::int as n from audit_log`.execute(open.db)
      expect(after.rows[0]!.n).toBe(before.rows[0]!.n)
    })
  })
})

const MANEUVER_CODES: Record<string, string> = {walk: 'walk', sit_to_stand: 'sts', flexion_extension: 'fe'}

/**
 * A stored value against the raw cell, without the importer's conversion code: numbers and booleans equal, dates
 * the same wall-clock instant, text equal (or the documented normalisations: lower-case knee, maneuver codes,
 * interval reprs as their numbers).
 */
function sameAsCell(stored: unknown, raw: string | number | boolean | Date): boolean {
  if (raw instanceof Date) {
    // exceljs rounds the serial to the millisecond; aedb keeps the microseconds: equal to within half a millisecond.
    if (typeof stored !== 'string') return false
    const match = /^(.{19})(?:\.(\d{1,6}))?$/.exec(stored)
    if (!match) return false
    const micros =
      Date.parse(`${match[1]!.replace(' ', 'T')}Z`) * 1000 + Number((match[2] ?? '').padEnd(6, '0'))
    return Math.abs(micros - raw.getTime() * 1000) <= 500
  }
  if (typeof raw !== 'string') return stored === raw
  if (stored === raw) return true
  if (typeof stored === 'string') return stored === raw.toLowerCase() || stored === MANEUVER_CODES[raw]
  if (Array.isArray(stored))
    return JSON.stringify(stored) === JSON.stringify((raw.match(/-?[\d.]+(e-?\d+)?/g) ?? []).map(Number))
  return false
}
