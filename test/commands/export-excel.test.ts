import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import ExcelJS from 'exceljs'
import JSZip from 'jszip'
import {sql} from 'kysely'
import {SaxesParser} from 'saxes'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../src/db/connection.js'
import {naiveToExcelSerialText} from '../../src/export/excel-cell.js'
import {backfillExcel} from '../../src/importers/excel/backfill-excel.js'
import {isAedbWrittenWorkbook} from '../../src/importers/excel/is-aedb-written-workbook.js'
import {importJson} from '../../src/importers/json/import-json.js'
import {expectTablesMatchDatabase} from '../export/expect-tables-match-database.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {kneeSampleDir} from '../support/knee-samples.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

const PLANTED = ['=HYPERLINK("http://x","y")', '+1+1', '-2+3', '@SUM(A1)', '\tleading tab'] as const

/** Every worksheet part of an .xlsx, by part name. */
async function sheetXml(file: string): Promise<Map<string, string>> {
  const zip = await JSZip.loadAsync(await readFile(file))
  const out = new Map<string, string>()
  for (const name of Object.keys(zip.files)
    .filter((n) => /^xl\/worksheets\/sheet\d+\.xml$/.test(n))
    .sort())
    out.set(name, await zip.file(name)!.async('string'))
  return out
}

/** Text XML 1.0 cannot carry raw (controls, CR, U+FFFE), a literal `_x0041_`, markup, an emoji, and the backslashes and tab COPY escapes. */
const AWKWARD = 'a\u0001b\rc\r\nd _x0041_ \uFFFE <&> \u{1F3B5} C:\\data\\n\tx'

/** Throws on the first well-formedness or namespace error: a strict XML 1.0 parse of one part. */
function parseStrictly(xml: string, part: string): void {
  const parser = new SaxesParser({xmlns: true})
  parser.on('error', (error) => {
    throw new Error(`${part}: ${error.message}`)
  })
  parser.write(xml).close()
}

describe.each(testBackends())('aedb export-excel on %s', (backend) => {
  let testDb: TestDatabase
  let open: OpenDatabase
  let work: string
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runCli(['export-excel', ...args, '--database-url', testDb.url], {env})

  beforeAll(async () => {
    testDb = await createTestDatabase(backend)
    open = await testDb.open()
    await backfillExcel({db: open.db, paths: [kneeSampleDir('v4-2026-01-29')], version: 'test'})
    await importJson({db: open.db, paths: [path.join(PROJECT_ROOT, 'fixtures', 'stemset')], jobs: 2})
    // The CLI opens the embedded database itself: one process at a time.
    if (backend === 'pglite') await open.close()
    work = await mkdtemp(path.join(tmpdir(), 'aedb-export-cli-'))
  })

  afterAll(async () => {
    if (backend !== 'pglite') await open?.close()
    await testDb?.drop()
    if (work) await rm(work, {recursive: true, force: true})
  })

  /** The database, opened only while the CLI is not running (PGlite is one process at a time). */
  async function withDb<T>(fn: (db: OpenDatabase['db']) => Promise<T>): Promise<T> {
    if (backend !== 'pglite') return fn(open.db)
    const opened = await testDb.open()
    try {
      return await fn(opened.db)
    } finally {
      await opened.close()
    }
  }

  it('writes the tables layout: README first, every value equal to the database, --json as documented', async () => {
    const file = path.join(work, 'all.xlsx')
    const result = await cli([file, '--json'])
    expect(result.exitCode, result.stderr).toBe(0)
    const json = JSON.parse(result.stdout)
    expect(Object.keys(json).sort()).toEqual(['files', 'layout', 'path', 'rows', 'sheets'])
    expect(json).toMatchObject({path: file, layout: 'tables', files: [file]})
    expect(json.sheets.movement_cycles).toBe(190)
    expect(json.sheets.stems).toBeGreaterThan(0)
    expect(json.rows).toBe(Object.values(json.sheets as Record<string, number>).reduce((n, r) => n + r, 0))
    const compared = await withDb((db) => expectTablesMatchDatabase(db, file))
    expect(compared).toBeGreaterThan(20_000)
    const xml = [...(await sheetXml(file)).values()]
    const cycles = xml.find((x) => x.includes('Left_flexion_extension_cycle_000.pkl'))!
    expect(cycles).toMatch(/<pane[^>]*ySplit="1"[^>]*state="frozen"/)
    expect(cycles).toMatch(/<autoFilter ref="A1:[A-Z]+1"/)
    expect(xml.join('')).toMatch(
      /<dataValidation type="list"[^>]*><formula1>&quot;left,right&quot;<\/formula1>/,
    )
    expect(await readdir(work)).toEqual(['all.xlsx'])

    // backfill-excel recognises aedb's own table export and never imports it as a log.
    const logs = () =>
      withDb(async (db) => (await db.selectFrom('processing_logs').select('id').execute()).length)
    const logsBefore = await logs()
    const backfill = await runCli(['backfill-excel', file, '--study', 'AOA', '--database-url', testDb.url])
    expect(backfill.stderr).toContain('aedb:tables')
    expect(backfill.stderr).not.toMatch(/imported 1 /)
    expect(await logs()).toBe(logsBefore)
  })

  it('filters by study, participant, table and profile', async () => {
    const file = path.join(work, 'some.xlsx')
    const result = await cli([
      file,
      '--json',
      '--study',
      'AOA',
      '--participant',
      '1019',
      '--tables',
      'processing_logs',
      '--tables',
      'participants',
    ])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout).sheets).toEqual({participants: 1, processing_logs: 6})
    await withDb((db) => expectTablesMatchDatabase(db, file))
    const media = await cli([
      path.join(work, 'media.xlsx'),
      '--json',
      '--profile',
      'Garage Sessions',
      '--dry-run',
    ])
    expect(media.exitCode, media.stderr).toBe(0)
    const sheets = JSON.parse(media.stdout).sheets
    expect(Object.keys(sheets)).toEqual(
      ['profiles', 'recordings', 'stems', 'source_audio', 'processed_hashes'].filter((t) => t in sheets),
    )
    expect(sheets.profiles).toBe(1)
  })

  it('refuses an existing file or non-empty folder without --force (exit 2), and a dry run writes nothing', async () => {
    const file = path.join(work, 'taken.xlsx')
    await writeFile(file, 'precious')
    const refused = await cli([file, '--json'])
    expect(refused.exitCode).toBe(2)
    expect(JSON.parse(refused.stdout).error.code).toBe('OUTPUT_EXISTS')
    expect(await readFile(file, 'utf8')).toBe('precious')
    // A dry run on the taken name counts what would be written and leaves the file as it was.
    const dryOnTaken = await cli([file, '--tables', 'studies', '--dry-run', '--json'])
    expect(dryOnTaken.exitCode, dryOnTaken.stderr).toBe(0)
    expect(Object.keys(JSON.parse(dryOnTaken.stdout).sheets)).toEqual(['studies'])
    expect(await readFile(file, 'utf8')).toBe('precious')
    const folder = path.join(work, 'taken-folder')
    await mkdir(folder)
    await writeFile(path.join(folder, 'keep.txt'), 'x')
    const legacy = await cli([folder, '--layout', 'legacy', '--json'])
    expect(legacy.exitCode).toBe(2)
    expect(await readdir(folder)).toEqual(['keep.txt'])
    const dry = await cli([path.join(work, 'dry'), '--layout', 'legacy', '--dry-run', '--json'])
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(JSON.parse(dry.stdout).files).toHaveLength(24)
    const forced = await cli([file, '--force', '--tables', 'studies', '--json'])
    expect(forced.exitCode, forced.stderr).toBe(0)
    expect((await readFile(file)).subarray(0, 2).toString()).toBe('PK')
    expect((await readdir(work)).filter((n) => n.includes('aedb-tmp'))).toEqual([])
    expect(await readdir(work)).not.toContain('dry')
  })

  it('refuses flags of the other layout and an output name of another format (exit 2), writing nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['odd.csv'], /must end in \.xlsx; got .*odd\.csv/],
      [['logs', '--tables', 'studies', '--layout', 'legacy'], /--tables applies to --layout tables only/],
      [['logs', '--profile', 'h4n', '--layout', 'legacy'], /--profile applies to --layout tables only/],
      [['v3.xlsx', '--legacy-version', 'v3'], /--legacy-version applies to --layout legacy only/],
      [['logs.xlsx', '--layout', 'legacy'], /writes a folder of workbooks, not one file/],
    ]
    const results = await Promise.all(
      cases.map(([args]) => cli([path.join(work, 'refused', args[0]!), ...args.slice(1), '--json'])),
    )
    for (const [i, result] of results.entries()) {
      expect(result.exitCode, result.stderr).toBe(2)
      const error = JSON.parse(result.stdout).error
      expect(error.code).toBe('USAGE')
      expect(error.message).toMatch(cases[i]![1])
    }
    expect(await readdir(work)).not.toContain('refused')
  })

  it('writes the same wall-clock dates under TZ=America/Los_Angeles and TZ=Asia/Kolkata', async () => {
    const files: string[] = []
    for (const tz of ['America/Los_Angeles', 'Asia/Kolkata']) {
      const file = path.join(work, `tz-${tz.replace('/', '-')}.xlsx`)
      const result = await cli(
        [file, '--tables', 'movement_cycles', '--tables', 'processing_logs', '--json'],
        {TZ: tz},
      )
      expect(result.exitCode, result.stderr).toBe(0)
      files.push(file)
    }
    const [la, kolkata] = await Promise.all(files.map(sheetXml))
    // Every data sheet (and the aedb:tables marker sheet) is byte-identical (the README holds the time of writing).
    const parts = [...la!.keys()].slice(1)
    expect(parts.length).toBe(3)
    for (const part of parts) expect(la!.get(part), part).toBe(kolkata!.get(part))
    const stored = await withDb(
      async (db) =>
        (
          await sql<{
            t: string
          }>`select log_created::text as t from processing_logs where log_created is not null order by id limit 1`.execute(
            db,
          )
        ).rows[0]!.t,
    )
    const serial = naiveToExcelSerialText(stored)!
    expect(la!.get(parts[0]!) ?? '').toContain(`<v>${serial}</v>`)
  })

  it('never writes a formula: planted =, +, -, @ and tab texts stay text and -5 stays a number, in both layouts', async () => {
    await withDb(async (db) => {
      await sql`update audio_processing set error = ${PLANTED[0]}, device_serial = ${PLANTED[1]}, notes = ${PLANTED[2]},
        mic_1_notes = ${PLANTED[3]}, bin_file = ${PLANTED[4]}, channels = -5,
        extra = extra || ${JSON.stringify({'Biomechanics Notes': PLANTED[0], Study: PLANTED[3]})}::jsonb`.execute(
        db,
      )
    })
    const file = path.join(work, 'planted.xlsx')
    const tables = await cli([file, '--tables', 'audio_processing', '--json'])
    expect(tables.exitCode, tables.stderr).toBe(0)
    const out = path.join(work, 'planted-logs')
    const legacy = await cli([out, '--layout', 'legacy', '--json'])
    expect(legacy.exitCode, legacy.stderr).toBe(0)
    const workbooks = [
      file,
      ...(JSON.parse(legacy.stdout).files as string[])
        .filter((f) => !f.includes('knee_'))
        .map((f) => path.join(out, f)),
    ]
    let planted = 0
    let negative = 0
    for (const workbook of workbooks) {
      for (const xml of (await sheetXml(workbook)).values()) {
        expect(xml).not.toMatch(/<f[ >]/)
        for (const text of PLANTED) {
          const escaped = text.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;')
          for (const match of xml.matchAll(/<c [^>]*>((?:(?!<\/c>).)*)<\/c>/gs)) {
            const body = match[1]!
            if (!body.includes(`>${escaped}</t>`) && !body.includes(`>${text}</t>`)) continue
            expect(match[0]).toMatch(/t="inlineStr"/)
            planted++
          }
        }
        for (const match of xml.matchAll(/<c(?: [^>]*)?><v>-5<\/v><\/c>/g)) {
          expect(match[0]).not.toMatch(/t="(s|str|inlineStr)"/)
          negative++
        }
      }
    }
    expect(planted).toBeGreaterThanOrEqual(PLANTED.length * 2)
    expect(negative).toBeGreaterThanOrEqual(2)
  })

  it('writes a package Excel opens: every part strict XML 1.0, the parts Excel needs, awkward text kept, a runs row', async () => {
    await withDb(async (db) => {
      await sql`update audio_processing set notes = ${AWKWARD}`.execute(db)
    })
    const file = path.join(work, 'package.xlsx')
    const result = await cli([file, '--tables', 'audio_processing', '--tables', 'participants', '--json'])
    expect(result.exitCode, result.stderr).toBe(0)
    const sheets = JSON.parse(result.stdout).sheets
    const zip = await JSZip.loadAsync(await readFile(file))
    const parts = Object.keys(zip.files).filter((n) => !zip.files[n]!.dir)
    expect(parts).toEqual(
      expect.arrayContaining([
        '[Content_Types].xml',
        '_rels/.rels',
        'xl/workbook.xml',
        'xl/_rels/workbook.xml.rels',
        'xl/styles.xml',
        'xl/worksheets/sheet1.xml',
        'xl/worksheets/sheet4.xml',
      ]),
    )
    const text = new Map<string, string>()
    for (const part of parts) {
      text.set(part, await zip.file(part)!.async('string'))
      parseStrictly(text.get(part)!, part)
    }
    const types = text.get('[Content_Types].xml')!
    for (const part of parts.filter((p) => p.startsWith('xl/worksheets/')))
      expect(types).toContain(
        `PartName="/${part}" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"`,
      )
    expect(text.get('_rels/.rels')).toContain('Target="xl/workbook.xml"')
    const tabs = [...text.get('xl/workbook.xml')!.matchAll(/<sheet name="([^"]+)"[^>]*>/g)].map((m) => m[0])
    expect(tabs.map((t) => /name="([^"]+)"/.exec(t)![1])).toEqual([
      'README',
      'participants',
      'audio_processing',
      '_aedb',
    ])
    expect(tabs[3]).toContain('state="veryHidden"')
    for (const [i] of tabs.entries())
      expect(text.get('xl/_rels/workbook.xml.rels')).toContain(
        `Id="rId${i + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet${i + 1}.xml"`,
      )
    expect(await isAedbWrittenWorkbook(file)).toBe('tables')

    // The awkward text: Excel's _xHHHH_ escapes for what XML cannot hold, decoded, give back every character.
    const cells = [
      ...text.get('xl/worksheets/sheet3.xml')!.matchAll(/<t(?: [^>]*)?>([^<]*_x0001_[^<]*)<\/t>/g),
    ]
    expect(cells.length).toBe(sheets.audio_processing)
    const decoded = cells[0]![1]!
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&quot;', '"')
      .replaceAll('&amp;', '&')
      .replace(/_x([0-9A-F]{4})_/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
    expect(decoded).toBe(AWKWARD)
    const workbook = new ExcelJS.Workbook()
    await workbook.xlsx.readFile(file)
    expect(workbook.worksheets.map((w) => [w.name, w.state])).toEqual([
      ['README', 'visible'],
      ['participants', 'visible'],
      ['audio_processing', 'visible'],
      ['_aedb', 'veryHidden'],
    ])

    const runs = await runCli([
      'runs',
      '--command',
      'export-excel',
      '--last',
      '1',
      '--json',
      '--database-url',
      testDb.url,
    ])
    expect(runs.exitCode, runs.stderr).toBe(0)
    const [run] = JSON.parse(runs.stdout).runs
    expect(run).toMatchObject({
      command: 'export-excel',
      outcome: 'succeeded',
      counts: {layout: 'tables', sheets, files: 1},
    })
  })
})
