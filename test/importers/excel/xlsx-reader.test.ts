import {execFileSync} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import ExcelJS from 'exceljs'
import JSZip from 'jszip'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {exportExcel} from '../../../src/export/export-excel.js'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import {markAedbWorkbook} from '../../../src/importers/excel/is-aedb-written-workbook.js'
import {readWorkbook} from '../../../src/importers/excel/read-workbook.js'
import {readWorkbookWithExceljs} from '../../../src/importers/excel/read-workbook-exceljs.js'
import {readXlsx} from '../../../src/importers/excel/xlsx-reader/read-xlsx.js'
import {createTestDatabase} from '../../support/backends.js'
import {addBadWorkbooks, copyV4Participants, editWorkbookXml, walkLogPath} from '../../support/knee-trees.js'

const FIXTURES = path.resolve(import.meta.dirname, '../../../fixtures')

/** What a reader gave: the workbook, or the message of what it threw. */
async function outcome(read: Promise<unknown>): Promise<unknown> {
  return read.then(
    (workbook) => ({workbook}),
    (error: Error) => ({
      error: error.message,
      name: error.constructor.name,
      sheet: (error as {sheet?: unknown}).sheet,
    }),
  )
}

async function expectSameAsExceljs(file: string): Promise<void> {
  const reference = await outcome(readWorkbookWithExceljs(file))
  expect(await outcome(readWorkbook(file)), file).toEqual(reference)
}

function xlsxUnder(root: string): string[] {
  return execFileSync('find', [root, '-name', '*.xlsx'], {encoding: 'utf8'})
    .split('\n')
    .filter(Boolean)
    .sort()
}

describe('aedb xlsx reader', () => {
  let scratch: string
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'aedb-xlsx-reader-'))
  })
  afterAll(async () => {
    await rm(scratch, {recursive: true, force: true})
  })

  it('reads every sample workbook (v1-v4) itself, exactly as exceljs does', async () => {
    const files = xlsxUnder(FIXTURES)
    expect(files.length).toBeGreaterThan(90)
    for (const file of files) {
      const fast = readXlsx(await readFile(file))
      expect({workbook: fast}, file).toEqual(await outcome(readWorkbookWithExceljs(file)))
    }
  })

  it('gives the same workbooks and the same messages as exceljs for the bad inputs', async () => {
    const root = await copyV4Participants(['1019'])
    try {
      await addBadWorkbooks(root)
      const files = xlsxUnder(root)
      expect(files.length).toBeGreaterThan(8)
      for (const file of files) await expectSameAsExceljs(file)
    } finally {
      await rm(root, {recursive: true, force: true})
    }
  })

  it('reads exceljs-written workbooks (shared strings, rich text, styles, dates, formulas) as exceljs does', async () => {
    const file = path.join(scratch, 'exceljs-written.xlsx')
    const workbook = new ExcelJS.Workbook()
    markAedbWorkbook(workbook, 'legacy')
    const sheet = workbook.addWorksheet('Summary')
    sheet.addRow(['Study ID', 'When', 'Text', 'Rich', 'Sum', 'Flag', 'Zero', 'Shared', ' Padded ', 'When'])
    sheet.addRow([
      1019,
      new Date(Date.UTC(2024, 2, 13, 12, 53, 51, 250)),
      'a & b < c "d" \'e\' _x0041_ _x00e9_ \u00e9 \u{1F600}',
      {richText: [{text: 'bold', font: {bold: true}}, {text: ' plain'}]},
      {formula: 'A2+1', result: 1020},
      true,
      {formula: 'A2*0', result: 0},
      {formula: 'CONCAT("x","y")', result: 'xy'},
      '  spaced  ',
      {formula: 'B2', result: new Date(Date.UTC(2024, 0, 1))},
    ])
    sheet.addRow([null, null, '=not a formula', {formula: 'NOW()'}, false, 1.5e-7, -0, Number.NaN, '', 'x'])
    sheet.getCell('B3').value = 45000.5
    sheet.getCell('B3').numFmt = 'yyyy-mm-dd hh:mm:ss.000'
    sheet.getCell('C4').value = 45000.5
    sheet.getCell('C4').numFmt = '[Red]0.00;"day"0'
    sheet.getCell('D4').value = 45000.25
    sheet.getCell('D4').numFmt = '0.00 "h"'
    sheet.getCell('E4').value = 12
    sheet.getCell('E4').numFmt = '0%'
    sheet.getCell('K5').value = 'headerless'
    sheet.getCell('A6').style = {font: {bold: true}}
    workbook.addWorksheet('Second').addRow(['only', 'headers'])
    await workbook.xlsx.writeFile(file)
    readXlsx(await readFile(file))
    await expectSameAsExceljs(file)
  })

  it('reads hand-edited XML (entities, _x escapes, str/e/b cells, shared formulas, 1904 dates) as exceljs does', async () => {
    const root = await copyV4Participants(['1019'])
    try {
      const file = walkLogPath(root, '1019')
      await editWorkbookXml(file, 'xl/worksheets/sheet1.xml', (xml) =>
        xml
          .replace(
            /(<c r="J1"[^>]*>.*?<\/c>)/,
            '$1<c r="K1" t="inlineStr"><is><r><t>Ri_x0041_</t></r><r><rPr><b/></rPr><t xml:space="preserve"> ch&#233;&#x1F600;&amp;</t></r></is></c><c r="L1" t="inlineStr"><is><t>Plain_x0041_ &lt;&gt;</t></is></c><c r="M1" t="inlineStr"><is><t>M</t></is></c><c r="N1" t="inlineStr"><is><t>N</t></is></c><c r="O1" t="inlineStr"><is><t>O</t></is></c><c r="P1" t="inlineStr"><is><t>P</t></is></c>',
          )
          .replace(
            /(<c r="J2"[^>]*>.*?<\/c>)/,
            '$1<c r="K2" t="str"><v>a&amp;amp;b</v></c><c r="L2" t="e"><v>#N/A</v></c><c r="M2" t="b"><v>0</v></c><c r="N2"><f t="shared" ref="N2:N3" si="0">A2+1</f><v>3</v></c><c r="O2"><f t="shared" si="0"/></c><c r="P2" t="n"><v>  </v></c>',
          ),
      )
      await expectSameAsExceljs(file)
      readXlsx(await readFile(file))
      await editWorkbookXml(file, 'xl/workbook.xml', (xml) =>
        xml.includes('<workbookPr')
          ? xml.replace('<workbookPr', '<workbookPr date1904="1"')
          : xml.replace(/(<workbook[^>]*>)/, '$1<workbookPr date1904="1"/>'),
      )
      readXlsx(await readFile(file))
      await expectSameAsExceljs(file)
    } finally {
      await rm(root, {recursive: true, force: true})
    }
  })

  it("reads aedb's own legacy-layout exports (and the tables export) as exceljs does", async () => {
    const root = await copyV4Participants(['1019', '2037'])
    const testDb = await createTestDatabase('pglite')
    const open = await testDb.open()
    try {
      const imported = await backfillExcel({db: open.db, paths: [root], version: 'test'})
      expect(imported.rejected).toEqual([])
      const legacy = path.join(scratch, 'legacy-export')
      await exportExcel({db: open.db, output: legacy, layout: 'legacy'})
      const tables = path.join(scratch, 'tables-export.xlsx')
      await exportExcel({db: open.db, output: tables, layout: 'tables'})
      const files = xlsxUnder(legacy)
      expect(files.length).toBeGreaterThan(8)
      for (const file of files) {
        readXlsx(await readFile(file))
        await expectSameAsExceljs(file)
      }
      // Never imported (its marker says so), but read alike all the same.
      await expectSameAsExceljs(tables)
    } finally {
      await open.close()
      await testDb.drop()
      await rm(root, {recursive: true, force: true})
    }
  })

  it('leaves merged cells, hyperlinks and damaged or odd files to exceljs, with its values and messages', async () => {
    const merged = path.join(scratch, 'merged.xlsx')
    const workbook = new ExcelJS.Workbook()
    const sheet = workbook.addWorksheet('Summary')
    sheet.addRow(['Study ID', 'Link', 'Note'])
    sheet.addRow([1019, {text: 'site', hyperlink: 'https://example.org'}, 'merged'])
    sheet.mergeCells('C2:D3')
    await workbook.xlsx.writeFile(merged)
    expect(() => readXlsx(Buffer.alloc(0))).toThrow()
    await expectSameAsExceljs(merged)
    const bytes = await readFile(merged)
    for (const [name, damaged] of [
      ['cut.xlsx', bytes.subarray(0, bytes.length - 30)],
      ['flipped.xlsx', Buffer.concat([bytes.subarray(0, 200), Buffer.alloc(50, 0x55), bytes.subarray(250)])],
      ['empty.xlsx', Buffer.alloc(0)],
    ] as const) {
      await writeFile(path.join(scratch, name), damaged)
      await expectSameAsExceljs(path.join(scratch, name))
    }
    const zip = await JSZip.loadAsync(bytes)
    zip.file(
      'xl/worksheets/sheet1.xml',
      '<worksheet><sheetData><row r="1"><c r="A1"><v>1</v></row></sheetData></worksheet>',
    )
    await writeFile(path.join(scratch, 'bad-xml.xlsx'), await zip.generateAsync({type: 'nodebuffer'}))
    await expectSameAsExceljs(path.join(scratch, 'bad-xml.xlsx'))
    await expectSameAsExceljs(path.join(scratch, 'missing.xlsx'))
  })
})
