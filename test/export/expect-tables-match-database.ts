import ExcelJS from 'exceljs'
import {type Kysely, sql} from 'kysely'
import {expect} from 'vitest'
import {type Database, SCHEMA, type TableName} from '../../src/db/schema.js'

/**
 * Reads a tables-layout workbook back with exceljs's reader and compares every cell with the database row of the
 * same id, column by column (typed columns, then the `extra` keys under their legacy names). Returns the number
 * of cells compared. Written without the exporter's code: values are read straight from the tables.
 */
export async function expectTablesMatchDatabase(db: Kysely<Database>, file: string): Promise<number> {
  const workbook = new ExcelJS.Workbook()
  await workbook.xlsx.readFile(file)
  expect(workbook.worksheets[0]!.name).toBe('README')
  // The very hidden marker that tells backfill-excel this is aedb's own export, never a log to import.
  const marker = workbook.worksheets.filter((s) => s.name === '_aedb')
  expect(marker.map((s) => [s.state, s.getCell('A1').value])).toEqual([['veryHidden', 'aedb:tables']])
  let compared = 0
  for (const sheet of workbook.worksheets.slice(1).filter((s) => s.name !== '_aedb')) {
    const table = sheet.name as TableName
    const spec = SCHEMA[table] as Record<string, string>
    expect(spec, sheet.name).toBeDefined()
    const headers: string[] = []
    sheet.getRow(1).eachCell((cell) => headers.push(text(cell.value) as string))
    expect(headers.slice(0, 2)).toEqual(Object.keys(spec).slice(0, 2))
    const {rows} = await sql<Record<string, unknown>>`select ${sql.join(
      Object.entries(spec).map(([c, t]) =>
        t.startsWith('timestamptz')
          ? sql`(${sql.ref(c)} at time zone 'UTC')::text as ${sql.ref(c)}`
          : t.startsWith('timestamp')
            ? sql`${sql.ref(c)}::text as ${sql.ref(c)}`
            : sql.ref(c),
      ),
    )} from ${sql.table(table)}`.execute(db)
    const byId = new Map(rows.map((r) => [String(r.id), r]))
    await expectReadingOrder(db, table, sheet)
    for (let r = 2; r <= sheet.rowCount; r++) {
      const row = sheet.getRow(r)
      const stored = byId.get(text(row.getCell(1).value) as string)
      expect(stored, `${table} row ${r}`).toBeDefined()
      for (const [i, header] of headers.entries()) {
        const cell = text(row.getCell(i + 1).value)
        const where = `${table} row ${r} ${header}`
        if (header in spec) {
          expectCell(cell, expected(stored![header], spec[header]!), where)
        } else if (!/^(file|source)_/.test(header)) {
          const key = header.endsWith(' (extra)') ? header.slice(0, -8) : header
          expectCell(cell, expectedExtra((stored!.extra as Record<string, unknown>)[key]), where)
        }
        compared++
      }
    }
  }
  return compared
}

const NAIVE_MS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/

/**
 * Equal values; a date within 1 ms, because exceljs turns the cell's serial (exact to the microsecond, checked
 * in the XML by the legacy round trip) into a Date by floating-point arithmetic that can land on either
 * neighbouring millisecond.
 */
function expectCell(cell: unknown, wanted: unknown, where: string): void {
  if (
    typeof cell === 'string' &&
    typeof wanted === 'string' &&
    NAIVE_MS.test(cell) &&
    NAIVE_MS.test(wanted)
  ) {
    const gap = Math.abs(
      Date.parse(`${cell.replace(' ', 'T')}Z`) - Date.parse(`${wanted.replace(' ', 'T')}Z`),
    )
    expect(gap, `${where}: ${cell} vs ${wanted}`).toBeLessThanOrEqual(1)
    return
  }
  expect(cell, where).toEqual(wanted)
}

/** A read cell as a plain value: rich text as its text, dates as the naive text of their UTC fields. */
function text(value: ExcelJS.CellValue): unknown {
  if (value === null || value === undefined) return null
  if (value instanceof Date) return value.toISOString().replace('T', ' ').replace('Z', '')
  if (typeof value === 'object' && 'richText' in value) return value.richText.map((r) => r.text).join('')
  return value
}

/** The database value as the cell should read: dates to the millisecond exceljs gives, arrays as `[a, b]`. */
function expected(value: unknown, type: string): unknown {
  if (value === null || value === undefined) return null
  if (type.startsWith('timestamp')) return naiveMs(String(value))
  if (type.startsWith('_float8')) return `[${(value as number[]).join(', ')}]`
  if (type.startsWith('jsonb')) return JSON.stringify(value)
  return value
}

function expectedExtra(value: unknown): unknown {
  if (value === undefined || value === null) return null
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/.test(value))
    return naiveMs(value)
  if (typeof value === 'object') return JSON.stringify(value)
  return value === '' ? null : value
}

/** `2026-01-29 01:46:30.19` -> `2026-01-29 01:46:30.190` (exceljs reads dates to the millisecond). */
function naiveMs(value: string): string {
  const [whole, frac = ''] = value.split('.')
  const ms = Math.round(Number(`0.${frac || '0'}`) * 1000)
  const date = new Date(`${whole!.replace(' ', 'T')}Z`)
  date.setUTCMilliseconds(ms)
  return date.toISOString().replace('T', ' ').replace('Z', '')
}

/**
 * Rows of a processing log come in reading order: study, participant, knee, maneuver, then the legacy sheet and
 * row (id last), as one sort of the whole table would give them, however the exporter reads them.
 */
async function expectReadingOrder(db: Kysely<Database>, table: TableName, sheet: ExcelJS.Worksheet) {
  const spec = SCHEMA[table] as Record<string, string>
  if (!('processing_log_id' in spec && 'source_row' in spec)) return
  const ids: string[] = []
  for (let r = 2; r <= sheet.rowCount; r++) ids.push(text(sheet.getRow(r).getCell(1).value) as string)
  const inSheet = new Set(ids)
  const {rows} = await sql<{id: string}>`select t.id::text as id from ${sql.table(table)} t
    join processing_logs l on l.id = t.processing_log_id join participants p on p.id = l.participant_id
    join studies s on s.id = p.study_id
    order by s.name, p.participant_number, l.knee, l.maneuver, t.source_sheet, t.source_row, t.id`.execute(db)
  expect(ids, `${table}: rows in reading order`).toEqual(
    rows.map((r) => r.id).filter((id) => inSheet.has(id)),
  )
}
