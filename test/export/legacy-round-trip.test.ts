import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import ExcelJS from 'exceljs'
import fg from 'fast-glob'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../src/db/connection.js'
import {type ExportExcelResult, exportExcel} from '../../src/export/export-excel.js'
import type {LegacyVersion} from '../../src/export/legacy-headers.js'
import {backfillExcel} from '../../src/importers/excel/backfill-excel.js'
import type {StudyName} from '../../src/importers/excel/parse-log.js'
import {readWorkbook} from '../../src/importers/excel/read-workbook.js'
import type {ImportResult} from '../../src/importers/import-session.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {snapshotData} from '../support/db-snapshot.js'
import {
  KNEE_SAMPLE_VERSIONS,
  type KneeSampleVersion,
  kneeSampleDir,
  participantFoldersByStudy,
  readKneeManifest,
} from '../support/knee-samples.js'
import {expectTablesMatchDatabase} from './expect-tables-match-database.js'

/** Tables that describe files and imports rather than the study: a new tree read is new there by nature. */
const BOOKKEEPING = new Set(['files', 'import_roots', 'source_imports'])

/** Imports a tree the way the sample tests do: v4 names its studies, v1-v3 need --study per participant group. */
async function importTree(
  db: OpenDatabase['db'],
  groups: ReadonlyArray<[StudyName | undefined, string[]]>,
): Promise<ImportResult[]> {
  const results: ImportResult[] = []
  for (const [study, paths] of groups)
    results.push(await backfillExcel({db, paths, ...(study ? {study} : {}), version: 'test'}))
  return results
}

function sampleGroups(version: KneeSampleVersion): Array<[StudyName | undefined, string[]]> {
  if (version.startsWith('v4')) return [[undefined, [kneeSampleDir(version)]]]
  return [...participantFoldersByStudy(version)].map(([study, folders]) => [study as StudyName, folders])
}

describe.each(testBackends())('legacy export round trip on %s', (backend) => {
  describe.each(KNEE_SAMPLE_VERSIONS)('sample tree %s', (version) => {
    const manifest = readKneeManifest(version)
    const legacyVersion = version.slice(0, 2) as LegacyVersion
    let testDb: TestDatabase
    let open: OpenDatabase
    let out: string
    let exported: ExportExcelResult
    let before: Record<string, unknown[]>
    let reimport: ImportResult[]
    let auditBefore: number

    beforeAll(async () => {
      testDb = await createTestDatabase(backend)
      open = await testDb.open()
      await importTree(open.db, sampleGroups(version))
      out = path.join(await mkdtemp(path.join(tmpdir(), 'aedb-export-')), 'logs')
      exported = await exportExcel({db: open.db, output: out, layout: 'legacy', legacyVersion})
      before = await snapshotData(open.db)
      auditBefore = (await sql<{n: number}>`select count(*)::int as n from audit_log`.execute(open.db))
        .rows[0]!.n
      const studies = [...new Set(manifest.files.map((f) => f.study))] as StudyName[]
      // v4 logs name their study; v1-v3 are imported per study folder with --study, as the originals were.
      reimport = await importTree(
        open.db,
        studies.map((s) => [legacyVersion === 'v4' ? undefined : s, [path.join(out, s)]]),
      )
    })

    afterAll(async () => {
      await open?.close()
      await testDb?.drop()
      if (out) await rm(path.dirname(out), {recursive: true, force: true})
    })

    it('writes one workbook per sample log, under the legacy folder and file names', async () => {
      const expected = manifest.files.map((f) => `${f.study}/${f.path}`).sort()
      expect([...exported.files].sort()).toEqual(expected)
      expect((await fg('**/*.xlsx', {cwd: out})).sort()).toEqual(expected)
      expect(exported.layout).toBe('legacy')
      expect(exported.rows).toBe(Object.values(exported.sheets).reduce((n, r) => n + r, 0))
    })

    it('is a no-op for every domain table when the export is imported again', async () => {
      expect(reimport.flatMap((r) => r.rejected)).toEqual([])
      for (const result of reimport) {
        expect(result.files.imported + result.files.unchanged).toBe(result.files.seen)
        for (const [table, counts] of Object.entries(result.tables)) {
          if (BOOKKEEPING.has(table)) continue
          expect({table, inserted: counts.inserted, updated: counts.updated}).toEqual({
            table,
            inserted: 0,
            updated: 0,
          })
        }
      }
      const after = await snapshotData(open.db)
      for (const table of Object.keys(before)) {
        if (BOOKKEEPING.has(table)) continue
        expect(after[table], table).toEqual(before[table])
      }
      const audited = await sql<{
        table_name: string
      }>`select table_name from audit_log order by id offset ${auditBefore}`.execute(open.db)
      expect(audited.rows.filter((r) => !BOOKKEEPING.has(r.table_name))).toEqual([])
    })

    it('adds only the export root, its files and one source import per exported workbook', async () => {
      const after = await snapshotData(open.db)
      // Nothing recorded before changed...
      for (const table of BOOKKEEPING)
        expect(after[table], table).toEqual(expect.arrayContaining(before[table]!))
      // ...and what is new is the export: one root per study folder, every exported workbook a present files row.
      const roots = (after.import_roots as Array<{path: string}>).filter(
        (r) => !(before.import_roots as Array<{path: string}>).some((b) => b.path === r.path),
      )
      expect(roots.map((r) => r.path).sort()).toEqual(
        [...new Set(manifest.files.map((f) => path.join(out, f.study)))].sort(),
      )
      const newFiles = (after.files as Array<{id: string; kind: string; present: boolean}>).filter(
        (f) => !(before.files as Array<{id: string}>).some((b) => b.id === f.id),
      )
      expect(newFiles.filter((f) => f.kind === 'workbook' && f.present)).toHaveLength(manifest.files.length)
      expect(after.source_imports!.length - before.source_imports!.length).toBe(manifest.files.length)
    })

    it('writes the tables layout of the same tree, every value equal to the database', async () => {
      const file = path.join(path.dirname(out), 'tables.xlsx')
      const result = await exportExcel({db: open.db, output: file, layout: 'tables'})
      expect(result.sheets.processing_logs).toBe(manifest.files.filter((f) => f.kind === 'maneuver').length)
      expect(await expectTablesMatchDatabase(open.db, file)).toBeGreaterThan(5000)
    })

    it('gives back every sheet, header and cell of the sample workbooks, in place and with its type', async () => {
      let compared = 0
      const differences: string[] = []
      for (const file of manifest.files) {
        const original = new ExcelJS.Workbook()
        await original.xlsx.readFile(path.join(kneeSampleDir(version), file.path))
        const copy = new ExcelJS.Workbook()
        await copy.xlsx.readFile(path.join(out, file.study, file.path))
        expect(
          copy.worksheets.map((s) => s.name),
          file.path,
        ).toEqual(original.worksheets.map((s) => s.name))
        for (const sheet of original.worksheets) {
          const other = copy.getWorksheet(sheet.name)!
          const rows = Math.max(sheet.rowCount, other.rowCount)
          const columns = Math.max(sheet.columnCount, other.columnCount)
          for (let r = 1; r <= rows; r++) {
            for (let c = 1; c <= columns; c++) {
              const a = plain(sheet.getRow(r).getCell(c).value)
              const b = plain(other.getRow(r).getCell(c).value)
              compared++
              if (
                !Object.is(a, b) &&
                // exceljs turns a serial into a Date by floating-point arithmetic that can land on either
                // neighbouring millisecond; the microseconds themselves are proven by the no-op re-import above.
                !(a instanceof Date && b instanceof Date && Math.abs(a.getTime() - b.getTime()) <= 1)
              )
                differences.push(
                  `${file.path} > ${sheet.name} > ${sheet.getRow(r).getCell(c).address}: ${String(a)} vs ${String(b)}`,
                )
            }
          }
        }
      }
      expect(differences).toEqual([])
      expect(compared).toBeGreaterThan(1000)
    })
  })
})

/** A cell as a reader sees it: rich text as its text; an empty text cell (pandas wrote `""` for empty strings) as empty. */
function plain(value: ExcelJS.CellValue): string | number | boolean | Date | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'object' && !(value instanceof Date)) {
    if ('richText' in value) return value.richText.map((r) => r.text).join('')
    return JSON.stringify(value)
  }
  return value === '' ? null : value
}

describe.each(testBackends())('legacy exports read back on %s', (backend) => {
  let testDb: TestDatabase
  let open: OpenDatabase
  let work: string

  beforeAll(async () => {
    testDb = await createTestDatabase(backend)
    open = await testDb.open()
    await importTree(open.db, sampleGroups('v4-2026-01-29'))
    work = await mkdtemp(path.join(tmpdir(), 'aedb-export-older-'))
  })

  afterAll(async () => {
    await open?.close()
    await testDb?.drop()
    if (work) await rm(work, {recursive: true, force: true})
  })

  it('refuses an export in an older layout over the same edition (OLDER_LAYOUT), keeping every stored row', async () => {
    const out = path.join(work, 'v3')
    await exportExcel({db: open.db, output: out, layout: 'legacy', legacyVersion: 'v3'})
    const before = await snapshotData(open.db)
    // v3 logs name no study: each participant's comes from the database.
    const result = await backfillExcel({db: open.db, paths: [out], version: 'test'})
    const maneuverLogs = readKneeManifest('v4-2026-01-29').files.filter((f) => !f.path.includes('knee_'))
    expect(result.rejected.map((r) => r.code)).toEqual(maneuverLogs.map(() => 'OLDER_LAYOUT'))
    expect(result.rejected[0]!.message).toMatch(/layout v4.*older layout v3.*stored rows were kept/)
    // Knee logs did not change from v2 to v4: the same edition in v3 is the same log, unchanged.
    expect(result.files.unchanged).toBe(result.files.seen - maneuverLogs.length)
    const after = await snapshotData(open.db)
    for (const table of Object.keys(before)) {
      if (BOOKKEEPING.has(table)) continue
      expect(after[table], table).toEqual(before[table])
    }
  })

  it('writes control characters and a literal _xHHHH_ so that they read back as they are', async () => {
    const awkward = 'a\u0001b\rc\r\nd _x0041_ \uFFFE <&> \u{1F3B5} C:\\data\\n\tx'
    await sql`update audio_processing set notes = ${awkward},
      extra = extra || ${JSON.stringify({'Biomechanics Notes': awkward})}::jsonb`.execute(open.db)
    const planted = Number(
      (await sql<{n: number}>`select count(*)::int as n from audio_processing`.execute(open.db)).rows[0]!.n,
    )
    const out = path.join(work, 'v4')
    const exported = await exportExcel({db: open.db, output: out, layout: 'legacy', legacyVersion: 'v4'})
    const found: unknown[] = []
    for (const file of exported.files) {
      for (const sheet of (await readWorkbook(path.join(out, file))).sheets)
        for (const row of sheet.rows)
          for (const value of row.cells.values())
            if (typeof value === 'string' && value.includes('C:\\data')) found.push(value)
    }
    expect(found.length).toBe(2 * planted)
    expect(new Set(found)).toEqual(new Set([awkward]))
  })
})
