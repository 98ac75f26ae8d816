import {cp, mkdir, mkdtemp, readFile, rm, truncate, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import ExcelJS from 'exceljs'
import JSZip from 'jszip'
import type {Kysely} from 'kysely'
import {afterAll, beforeAll} from 'vitest'
import type {OpenDatabase} from '../../src/db/connection.js'
import type {Database} from '../../src/db/schema.js'
import {type BackendName, createTestDatabase, type TestDatabase} from './backends.js'
import {kneeSampleDir} from './knee-samples.js'

export const V4 = 'v4-2026-01-29' as const

/** A fresh temp folder holding a copy of the v4 sample participant folders asked for. */
export async function copyV4Participants(participants: readonly string[]): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'aedb-tree-'))
  for (const p of participants)
    await cp(path.join(kneeSampleDir(V4), `#${p}`), path.join(root, `#${p}`), {recursive: true})
  return root
}

export function walkLogPath(root: string, participant: string): string {
  return path.join(
    root,
    `#${participant}`,
    'Left Knee',
    'Walking',
    `processing_log_${participant}_Left_walk.xlsx`,
  )
}

/** Rewrites a workbook with exceljs after `edit` (used to make realistic bad or changed logs from real ones). */
export async function editWorkbook(
  source: string,
  target: string,
  edit: (wb: ExcelJS.Workbook) => void,
): Promise<void> {
  const workbook = new ExcelJS.Workbook()
  await workbook.xlsx.readFile(source)
  edit(workbook)
  await mkdir(path.dirname(target), {recursive: true})
  await workbook.xlsx.writeFile(target)
}

/** The 1-based column of a header in a sheet's first row. */
export function columnOf(sheet: ExcelJS.Worksheet, header: string): number {
  let found = -1
  sheet.getRow(1).eachCell((cell, column) => {
    if (cell.value === header) found = column
  })
  if (found < 0) throw new Error(`no header ${header} in ${sheet.name}`)
  return found
}

/** Sets Study ID in every sheet that has one, so a copied log belongs to another participant. */
export function renumber(workbook: ExcelJS.Workbook, participant: string): void {
  for (const sheet of workbook.worksheets) {
    let column = -1
    sheet.getRow(1).eachCell((cell, c) => {
      if (cell.value === 'Study ID') column = c
    })
    if (column < 0) continue
    sheet.eachRow((row, n) => {
      if (n > 1 && row.getCell(column).value !== null) row.getCell(column).value = participant
    })
  }
}

export interface BadWorkbooks {
  truncated: string
  notZip: string
  empty: string
  missingColumn: string
  badValues: string
}

/** The five kinds of bad input of issue 3, each in a participant folder of its own under `root`. */
export async function addBadWorkbooks(root: string): Promise<BadWorkbooks> {
  const real = walkLogPath(root, '1019')
  const truncated = walkLogPath(root, '3001')
  await mkdir(path.dirname(truncated), {recursive: true})
  await writeFile(truncated, (await readFile(real)).subarray(0, 4000))
  const notZip = walkLogPath(root, '3002')
  await mkdir(path.dirname(notZip), {recursive: true})
  await writeFile(notZip, 'Study ID,Knee Side\n3002,Left\n')
  const empty = walkLogPath(root, '3003')
  await mkdir(path.dirname(empty), {recursive: true})
  const blank = new ExcelJS.Workbook()
  blank.addWorksheet('Sheet1')
  await blank.xlsx.writeFile(empty)
  const missingColumn = walkLogPath(root, '3004')
  await editWorkbook(real, missingColumn, (wb) => {
    renumber(wb, '3004')
    const sync = wb.getWorksheet('Synchronization')!
    sync.getRow(1).getCell(columnOf(sync, 'Sync File')).value = 'Sync Files'
  })
  const badValues = walkLogPath(root, '3005')
  await editWorkbook(real, badValues, (wb) => {
    renumber(wb, '3005')
    const sync = wb.getWorksheet('Synchronization')!
    sync.getRow(3).getCell(columnOf(sync, 'Audio Sync Time (s)')).value = 'abc'
    sync.getRow(4).getCell(columnOf(sync, 'Processing Date')).value = 'yesterday'
  })
  return {truncated, notZip, empty, missingColumn, badValues}
}

export async function truncateFile(file: string, bytes: number): Promise<void> {
  await truncate(file, bytes)
}

export interface V4TreeContext {
  db: Kysely<Database>
  /** The copied tree (participant folders `#<n>` inside). */
  root: string
  testDb: TestDatabase
}

/** For one describe block: a fresh migrated database and a copy of v4 participant folders, removed after it. */
export function useV4Tree(backend: BackendName, participants: readonly string[]): V4TreeContext {
  const ctx = {} as V4TreeContext
  let open: OpenDatabase | undefined
  beforeAll(async () => {
    ctx.testDb = await createTestDatabase(backend)
    open = await ctx.testDb.open()
    ctx.db = open.db
    ctx.root = await copyV4Participants(participants)
  })
  afterAll(async () => {
    await open?.close()
    await ctx.testDb?.drop()
    if (ctx.root) await rm(ctx.root, {recursive: true, force: true})
  })
  return ctx
}

/**
 * Rewrites one part of an .xlsx (e.g. `xl/worksheets/sheet1.xml`) in place by `edit` on its XML text: for cells
 * exceljs cannot write as the legacy pipeline did (a date serial to the microsecond).
 */
export async function editWorkbookXml(
  file: string,
  part: string,
  edit: (xml: string) => string,
): Promise<void> {
  const zip = await JSZip.loadAsync(await readFile(file))
  const xml = await zip.file(part)!.async('string')
  const changed = edit(xml)
  if (changed === xml) throw new Error(`editWorkbookXml: ${part} of ${file} unchanged`)
  zip.file(part, changed)
  await writeFile(file, await zip.generateAsync({type: 'nodebuffer', compression: 'DEFLATE'}))
}

export {addGeneratedSheet} from '../../bench/add-generated-sheet.js'
