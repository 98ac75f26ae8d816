/**
 * A synthetic knee study of N v4 maneuver logs, made from the real v4 sample workbooks.
 *
 * Log i (0-based) belongs to participant 5001 + floor(i / 6), knee Left for i % 6 < 3 else Right, maneuver
 * walk / sit_to_stand / flexion_extension for i % 3. It is a copy of the sample log of the same knee and maneuver
 * of sample participant #1019, #1021 or #2037 in turn (by participant), with:
 *
 * - every `Study ID` cell that holds the sample's participant number (as text or as an integer; the type is
 *   kept) set to the new number (the Biomechanics sheet's `Study ID` of 1 is a legacy quirk and stays 1),
 * - the Summary `Maneuver Directory` (`#1019/Left Knee/Walking`) pointed at the new participant folder,
 * - every `Study` cell set to the study of the synthetic corpus (default AOA; #2037's samples say preOA),
 *
 * written with exceljs as `#<n>/<Left|Right> Knee/<Walking|Sit-Stand|Flexion-Extension>/processing_log_<n>_<Left|Right>_<walk|sit_to_stand|flexion_extension>.xlsx`.
 * Every other cell is left as it is; `verifyRoundTrip` checks that (dates stay dates, to the millisecond).
 *
 * The corpus is built in a temporary folder and renamed into `bench/out/corpus-v4-<N>/` when complete, with a
 * `corpus-v4-<N>.json` stamp next to it naming the templates' SHA-256; a later run reuses it when the stamp
 * matches. Run alone: `node --import tsx bench/generate-corpus.ts [N]`.
 */
import {createHash} from 'node:crypto'
import {mkdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import ExcelJS from 'exceljs'

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
export const BENCH_OUT = path.join(REPO_ROOT, 'bench', 'out')
export const SAMPLE_TREE = path.join(REPO_ROOT, 'fixtures', 'knee-ae', 'v4-2026-01-29')
const SAMPLE_PARTICIPANTS = [1019, 1021, 2037] as const
const KNEES = ['Left', 'Right'] as const
const MANEUVERS = [
  {code: 'walk', folder: 'Walking'},
  {code: 'sit_to_stand', folder: 'Sit-Stand'},
  {code: 'flexion_extension', folder: 'Flexion-Extension'},
] as const
/** Bump when the way logs are derived from the samples changes, so cached corpora are rebuilt. */
const GENERATOR_VERSION = 1
export const FIRST_PARTICIPANT = 5001

export interface CorpusOptions {
  count: number
  study?: string
  /** Where corpora are cached (default bench/out). */
  outDir?: string
  onProgress?: (done: number, total: number) => void
}

export interface CorpusLog {
  /** Relative to the corpus root, with `/`. */
  relPath: string
  participant: number
  knee: (typeof KNEES)[number]
  maneuver: (typeof MANEUVERS)[number]['code']
  template: string
}

export interface Corpus {
  dir: string
  count: number
  study: string
  logs: CorpusLog[]
  bytes: number
  /** True when an existing corpus was reused. */
  cached: boolean
  generateSeconds: number
}

interface Stamp {
  generatorVersion: number
  count: number
  study: string
  templates: Record<string, string>
  bytes: number
  generateSeconds: number
}

function templatePath(participant: number, knee: string, maneuver: (typeof MANEUVERS)[number]): string {
  return path.join(
    SAMPLE_TREE,
    `#${participant}`,
    `${knee} Knee`,
    maneuver.folder,
    `processing_log_${participant}_${knee}_${maneuver.code}.xlsx`,
  )
}

/** The logs of an N-log corpus, in order, with the sample each one is copied from. */
export function planCorpus(count: number): CorpusLog[] {
  const logs: CorpusLog[] = []
  for (let i = 0; i < count; i++) {
    const k = Math.floor(i / 6)
    const participant = FIRST_PARTICIPANT + k
    const knee = KNEES[i % 6 < 3 ? 0 : 1]
    const maneuver = MANEUVERS[i % 3]!
    const sample = SAMPLE_PARTICIPANTS[k % SAMPLE_PARTICIPANTS.length]!
    logs.push({
      relPath: `#${participant}/${knee} Knee/${maneuver.folder}/processing_log_${participant}_${knee}_${maneuver.code}.xlsx`,
      participant,
      knee,
      maneuver: maneuver.code,
      template: templatePath(sample, knee, maneuver),
    })
  }
  return logs
}

/** A cell this generator rewrites: where it is, and how to compute its new value from the new participant. */
interface Edit {
  sheet: string
  row: number
  column: number
  value: (participant: number, study: string) => ExcelJS.CellValue
}

function headerIndex(sheet: ExcelJS.Worksheet): Map<string, number> {
  const headers = new Map<string, number>()
  sheet.getRow(1).eachCell({includeEmpty: false}, (cell, column) => {
    if (typeof cell.value === 'string') headers.set(cell.value.trim(), column)
  })
  return headers
}

/** The cells of a sample workbook that name its participant or its study. */
export function findEdits(workbook: ExcelJS.Workbook, sampleParticipant: number): Edit[] {
  const edits: Edit[] = []
  for (const sheet of workbook.worksheets) {
    const headers = headerIndex(sheet)
    const studyId = headers.get('Study ID')
    const study = headers.get('Study')
    const directory = sheet.name === 'Summary' ? headers.get('Maneuver Directory') : undefined
    sheet.eachRow({includeEmpty: false}, (row, rowNumber) => {
      if (rowNumber === 1) return
      if (studyId !== undefined) {
        const value = row.getCell(studyId).value
        if (typeof value === 'string' && value.trim() === String(sampleParticipant)) {
          edits.push({sheet: sheet.name, row: rowNumber, column: studyId, value: (n) => String(n)})
        } else if (typeof value === 'number' && value === sampleParticipant) {
          edits.push({sheet: sheet.name, row: rowNumber, column: studyId, value: (n) => n})
        }
      }
      if (study !== undefined && typeof row.getCell(study).value === 'string') {
        edits.push({sheet: sheet.name, row: rowNumber, column: study, value: (_n, s) => s})
      }
      if (directory !== undefined) {
        const value = row.getCell(directory).value
        const prefix = `#${sampleParticipant}`
        if (typeof value === 'string' && value.startsWith(prefix)) {
          const rest = value.slice(prefix.length)
          edits.push({sheet: sheet.name, row: rowNumber, column: directory, value: (n) => `#${n}${rest}`})
        }
      }
    })
  }
  return edits
}

function applyEdits(
  workbook: ExcelJS.Workbook,
  edits: readonly Edit[],
  participant: number,
  study: string,
): void {
  for (const edit of edits) {
    workbook.getWorksheet(edit.sheet)!.getRow(edit.row).getCell(edit.column).value = edit.value(
      participant,
      study,
    )
  }
}

async function sha256File(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex')
}

function corpusPaths(outDir: string, count: number) {
  return {dir: path.join(outDir, `corpus-v4-${count}`), stamp: path.join(outDir, `corpus-v4-${count}.json`)}
}

async function templateHashes(logs: readonly CorpusLog[]): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {}
  for (const template of new Set(logs.map((l) => l.template))) {
    hashes[path.relative(REPO_ROOT, template)] = await sha256File(template)
  }
  return hashes
}

/** Returns the cached corpus of `count` logs, or generates it. */
export async function generateCorpus(options: CorpusOptions): Promise<Corpus> {
  const count = options.count
  const study = options.study ?? 'AOA'
  const outDir = options.outDir ?? BENCH_OUT
  const logs = planCorpus(count)
  const templates = await templateHashes(logs)
  const {dir, stamp} = corpusPaths(outDir, count)
  try {
    const existing = JSON.parse(await readFile(stamp, 'utf8')) as Stamp
    const same =
      existing.generatorVersion === GENERATOR_VERSION &&
      existing.count === count &&
      existing.study === study &&
      JSON.stringify(existing.templates) === JSON.stringify(templates)
    if (same && (await stat(path.join(dir, logs.at(-1)!.relPath)).catch(() => null))) {
      return {
        dir,
        count,
        study,
        logs,
        bytes: existing.bytes,
        cached: true,
        generateSeconds: existing.generateSeconds,
      }
    }
  } catch {
    // No stamp yet, or an unreadable one: generate.
  }

  const started = performance.now()
  await mkdir(outDir, {recursive: true})
  await rm(stamp, {force: true})
  const temp = path.join(outDir, `.corpus-v4-${count}.tmp-${process.pid}`)
  await rm(temp, {recursive: true, force: true})
  // One loaded copy per sample, edited in place and written once per log that uses it.
  const loaded = new Map<string, {workbook: ExcelJS.Workbook; edits: Edit[]}>()
  let bytes = 0
  for (const [index, log] of logs.entries()) {
    let entry = loaded.get(log.template)
    if (!entry) {
      const workbook = new ExcelJS.Workbook()
      await workbook.xlsx.readFile(log.template)
      const sample = Number(/processing_log_(\d+)_/.exec(path.basename(log.template))![1])
      entry = {workbook, edits: findEdits(workbook, sample)}
      loaded.set(log.template, entry)
    }
    applyEdits(entry.workbook, entry.edits, log.participant, study)
    const target = path.join(temp, log.relPath)
    await mkdir(path.dirname(target), {recursive: true})
    const buffer = Buffer.from(await entry.workbook.xlsx.writeBuffer())
    await writeFile(target, buffer)
    bytes += buffer.length
    options.onProgress?.(index + 1, logs.length)
  }
  await rm(dir, {recursive: true, force: true})
  await rename(temp, dir)
  const generateSeconds = (performance.now() - started) / 1000
  const record: Stamp = {generatorVersion: GENERATOR_VERSION, count, study, templates, bytes, generateSeconds}
  await writeFile(stamp, `${JSON.stringify(record, null, 2)}\n`)
  return {dir, count, study, logs, bytes, cached: false, generateSeconds}
}

function cellKey(value: ExcelJS.CellValue): string {
  if (value instanceof Date) return `date:${value.toISOString()}`
  if (value === null || value === undefined) return 'empty'
  if (typeof value === 'object') return `object:${JSON.stringify(value)}`
  return `${typeof value}:${String(value)}`
}

export interface RoundTripReport {
  file: string
  cells: number
  dates: number
  edited: number
  /** Cells that differ from the sample other than the intended edits: should be empty. */
  differences: string[]
}

/**
 * Reads a generated log and its sample back with exceljs and compares them cell by cell: every cell must be the
 * same value of the same type (a Date stays a Date with the same milliseconds) except the cells the generator
 * meant to change, which must hold the new values. Sheet names and order must match.
 */
export async function verifyRoundTrip(corpus: Corpus, log: CorpusLog): Promise<RoundTripReport> {
  const file = path.join(corpus.dir, log.relPath)
  const [sample, copy] = [new ExcelJS.Workbook(), new ExcelJS.Workbook()]
  await sample.xlsx.readFile(log.template)
  await copy.xlsx.readFile(file)
  const sampleNumber = Number(/processing_log_(\d+)_/.exec(path.basename(log.template))![1])
  const expected = new Map<string, string>()
  for (const edit of findEdits(sample, sampleNumber)) {
    expected.set(
      `${edit.sheet}!${edit.row}:${edit.column}`,
      cellKey(edit.value(log.participant, corpus.study)),
    )
  }
  const differences: string[] = []
  const sampleNames = sample.worksheets.map((s) => s.name)
  const copyNames = copy.worksheets.map((s) => s.name)
  if (sampleNames.join('|') !== copyNames.join('|')) {
    differences.push(`sheets ${copyNames.join(', ')} instead of ${sampleNames.join(', ')}`)
  }
  let cells = 0
  let dates = 0
  let edited = 0
  for (const sheet of sample.worksheets) {
    const other = copy.getWorksheet(sheet.name)
    if (!other) continue
    const rows = Math.max(sheet.rowCount, other.rowCount)
    const columns = Math.max(sheet.columnCount, other.columnCount)
    for (let r = 1; r <= rows; r++) {
      for (let c = 1; c <= columns; c++) {
        const before = sheet.getRow(r).getCell(c).value
        const after = other.getRow(r).getCell(c).value
        if (before === null || before === undefined) {
          if (after !== null && after !== undefined)
            differences.push(`${sheet.name}!R${r}C${c}: empty became ${cellKey(after)}`)
          continue
        }
        cells++
        if (before instanceof Date) dates++
        const key = `${sheet.name}!${r}:${c}`
        const want = expected.get(key) ?? cellKey(before)
        if (expected.has(key)) edited++
        if (cellKey(after) !== want)
          differences.push(`${sheet.name}!R${r}C${c}: ${cellKey(after)}, expected ${want}`)
      }
    }
  }
  return {file: log.relPath, cells, dates, edited, differences}
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const count = Number(process.argv[2] ?? process.env.BENCH_COUNT ?? 1000)
  const corpus = await generateCorpus({
    count,
    onProgress: (done, total) => {
      if (done % 100 === 0 || done === total) process.stderr.write(`generated ${done}/${total}\n`)
    },
  })
  process.stdout.write(
    `${corpus.cached ? 'reused' : 'generated'} ${corpus.count} logs (${(corpus.bytes / 1048576).toFixed(1)} MiB) in ${corpus.dir} (${corpus.generateSeconds.toFixed(1)} s to generate)\n`,
  )
}
