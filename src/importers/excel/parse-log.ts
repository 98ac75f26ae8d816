import path from 'node:path'
import type {Rejection} from '../import-session.js'
import {type CellValue, convertCell, describeCell, isEmptyCell, roundTrips, verbatim} from './cell-value.js'
import {
  AUDIO_FIELDS,
  BIOMECHANICS_FIELDS,
  CYCLE_FIELDS,
  CYCLE_SUMMARY_FIELDS,
  type FieldMap,
  type FormatVersion,
  KNEE_MANEUVER_FIELDS,
  KNEE_SUMMARY_FIELDS,
  KNOWN_EXTRA_HEADERS,
  type LogKind,
  PLACEHOLDER_HEADER,
  REQUIRED_HEADERS,
  SUMMARY_FIELDS,
  SYNC_CYCLE_SUMMARY_FIELDS,
  SYNC_FIELDS,
} from './field-maps.js'
import type {RawRow, RawSheet, RawWorkbook} from './read-workbook.js'

export const STUDY_NAMES = ['AOA', 'preOA', 'SMoCK'] as const
export type StudyName = (typeof STUDY_NAMES)[number]

/** One source row turned into typed columns, plus every other cell of it verbatim. */
export interface ParsedRecord {
  values: Record<string, unknown>
  extra: Record<string, unknown>
  sheet: string
  row: number
}

export interface ParseWarning {
  code: string
  message: string
}

interface ParsedBase {
  file: string
  version: FormatVersion
  participantNumber: number | null
  /** The study the workbook itself names (v4 `Study` columns, a prefixed `Study ID`), if any. */
  studyNamed: StudyName | null
  knee: 'left' | 'right'
  references: Array<{
    value: string
    kind: 'raw_audio' | 'pickle' | 'directory' | 'spreadsheet'
    defaultDir?: string
  }>
}

export interface ParsedManeuverLog extends ParsedBase {
  kind: 'maneuver'
  maneuver: 'walk' | 'sts' | 'fe'
  log: ParsedRecord
  audio: ParsedRecord[]
  biomechanics: ParsedRecord[]
  syncs: ParsedRecord[]
  summaries: ParsedRecord[]
  cycles: ParsedRecord[]
}

export interface ParsedKneeLog extends ParsedBase {
  kind: 'knee'
  log: ParsedRecord
  maneuvers: ParsedRecord[]
}

export type ParsedLog = ParsedManeuverLog | ParsedKneeLog

export interface ParseLogResult {
  parsed: ParsedLog | null
  /** The log as far as it could be read, also when problems keep it from being imported (to check its study). */
  draft: ParsedLog | null
  problems: Rejection[]
  warnings: ParseWarning[]
}

export interface ParseLogOptions {
  /** The workbook's path relative to its import root, used in messages and for folder-derived facts. */
  file: string
  /** The workbook's absolute path: its `#1011` folder names the participant when the log does not. */
  absolutePath?: string
  /** Store NULL for a cell that does not fit its column, keep the text in `extra`, and warn instead of rejecting. */
  coerceInvalid?: boolean
}

/** Columns that are part of a natural key: kept short enough for a btree index entry. */
const KEY_COLUMNS = new Set(['audio_file', 'biomechanics_file', 'sheet_name', 'sync_file'])
const MAX_KEY_LENGTH = 1000

const MANEUVER_STAGE_SHEETS = ['Audio', 'Biomechanics', 'Synchronization', 'Movement Cycles'] as const

/** Which kind of log and which layout a workbook is, from its sheet and header sets (never from dates). */
export function detectLayout(workbook: RawWorkbook): {kind: LogKind; version: FormatVersion} | null {
  const sheet = (name: string) => workbook.sheets.find((s) => s.name === name)
  const has = (name: string, header: string) => sheet(name)?.headers.includes(header) ?? false
  if (sheet('Knee Summary')) return {kind: 'knee', version: 'v5'}
  if (sheet('Maneuver Summaries') && sheet('Summary')) {
    const modern = ['Consensus (s)', 'RMS Detect (s)'].some((h) => has('Maneuver Summaries', h))
    return {kind: 'knee', version: modern ? 'v2' : 'v1'}
  }
  const summary = sheet('Summary')
  if (!summary) return null
  if (summary.headers.includes('Metric') && summary.headers.includes('Value'))
    return {kind: 'maneuver', version: 'v5'}
  if (sheet('Cycles')) return {kind: 'maneuver', version: 'v5'}
  if (!summary.headers.includes('Maneuver') && !MANEUVER_STAGE_SHEETS.some((s) => sheet(s))) return null
  const v4 =
    has('Audio', 'Study') ||
    has('Audio', 'Audio QC Fail Segments') ||
    has('Synchronization', 'Record Type') ||
    has('Synchronization', 'Sync Offset (s)') ||
    has('Movement Cycles', 'Cycle Index') ||
    has('Biomechanics', 'Num Sub-Recordings')
  if (v4) return {kind: 'maneuver', version: 'v4'}
  if (has('Cycle Details', 'Audio File') || has('Movement Cycles', 'Pass Number'))
    return {kind: 'maneuver', version: 'v3'}
  const v2 =
    has('Synchronization', 'Consensus Methods') ||
    has('Audio', 'Audio QC Version') ||
    has('Audio', 'QC_not_passed') ||
    has('Biomechanics', 'Biomech QC Version') ||
    has('Movement Cycles', 'Cycle QC Version')
  return {kind: 'maneuver', version: v2 ? 'v2' : 'v1'}
}

class SheetParser {
  readonly problems: Rejection[] = []
  readonly warnings: ParseWarning[] = []
  /** Sheets read as part of the layout; any other sheet is kept verbatim with a warning. */
  readonly sheetsRead = new Set<string>()

  constructor(
    private readonly file: string,
    private readonly kind: LogKind,
    private readonly version: FormatVersion,
    private readonly options: ParseLogOptions,
  ) {}

  problem(
    sheet: string | null,
    row: number | null,
    column: string | null,
    code: string,
    message: string,
  ): void {
    this.problems.push({file: this.file, sheet, row, column, code, message})
  }

  /** Checks the header row; false (with problems recorded) when a required header is missing. */
  checkHeaders(sheet: RawSheet, requiredKey: string): boolean {
    this.sheetsRead.add(sheet.name)
    for (const header of sheet.duplicateHeaders) {
      this.problem(
        sheet.name,
        1,
        header,
        'DUPLICATE_COLUMN',
        `header ${JSON.stringify(header)} appears twice; expected each header once`,
      )
    }
    for (const cell of sheet.headerless) {
      this.problem(
        sheet.name,
        cell.row,
        `column ${cell.column}`,
        'HEADERLESS_CELL',
        `found ${describeCell(cell.value)} under an empty header; expected every filled column to have a header`,
      )
    }
    let ok = sheet.duplicateHeaders.length === 0 && sheet.headerless.length === 0
    for (const alternatives of REQUIRED_HEADERS[requiredKey] ?? []) {
      if (alternatives.some((h) => sheet.headers.includes(h))) continue
      const wanted = alternatives[0]!
      const closest = closestHeader(wanted, sheet.headers)
      this.problem(
        sheet.name,
        1,
        wanted,
        'MISSING_COLUMN',
        `sheet ${JSON.stringify(sheet.name)} has no column ${JSON.stringify(wanted)}${
          closest ? ` (closest found: ${JSON.stringify(closest)})` : ''
        }; found ${sheet.headers.map((h) => JSON.stringify(h)).join(', ') || 'no headers'}`,
      )
      ok = false
    }
    return ok
  }

  /** Typed values of one row for the given field maps; `consumed` gets every header it used. */
  readFields(
    sheet: RawSheet,
    row: RawRow,
    fields: readonly FieldMap[],
    consumed: Set<string>,
    extra: Record<string, unknown>,
  ) {
    const values: Record<string, unknown> = {}
    for (const field of fields) {
      if (field.versions && !field.versions.includes(this.version)) continue
      const header = field.headers.find((h) => sheet.headers.includes(h))
      if (header === undefined) {
        if (!(field.column in values)) values[field.column] = null
        continue
      }
      consumed.add(header)
      const cell = row.cells.get(header) ?? null
      const converted = convertCell(cell, field.type)
      if (
        converted.ok &&
        KEY_COLUMNS.has(field.column) &&
        typeof converted.value === 'string' &&
        converted.value.length > MAX_KEY_LENGTH
      ) {
        this.problem(
          sheet.name,
          row.rowNumber,
          header,
          'INVALID_VALUE',
          `found a text of ${converted.value.length} characters, expected at most ${MAX_KEY_LENGTH} (it names a record)`,
        )
      } else if (converted.ok) {
        values[field.column] = converted.value
        if (!roundTrips(cell, converted.value, field.type)) extra[header] = verbatim(cell)
      } else if (this.options.coerceInvalid) {
        values[field.column] = null
        extra[header] = verbatim(cell)
        this.warnings.push({
          code: 'COERCED_INVALID',
          message: `${this.file} > ${sheet.name} > row ${row.rowNumber} > ${header}: found ${describeCell(cell)}, expected ${converted.expected}; stored NULL and kept the text in extra`,
        })
      } else {
        this.problem(
          sheet.name,
          row.rowNumber,
          header,
          'INVALID_VALUE',
          `found ${describeCell(cell)}, expected ${converted.expected}`,
        )
      }
    }
    return values
  }

  /** Every cell of the row not consumed by a typed column, verbatim; unknown headers warn once per sheet. */
  collectExtra(
    sheet: RawSheet,
    row: RawRow,
    consumed: Set<string>,
    extra: Record<string, unknown>,
    warned: Set<string>,
  ) {
    const known = new Set(KNOWN_EXTRA_HEADERS[`${this.kind}/${sheet.name}`] ?? [])
    for (const [header, cell] of row.cells) {
      if (consumed.has(header) || isEmptyCell(cell) || header in extra) continue
      extra[header] = verbatim(cell)
    }
    for (const header of sheet.headers) {
      if (consumed.has(header) || known.has(header) || warned.has(header)) continue
      warned.add(header)
      this.warnings.push({
        code: 'UNKNOWN_COLUMN',
        message: `${this.file} > ${sheet.name}: column ${JSON.stringify(header)} is not part of the ${this.version} layout; kept verbatim in each row's extra`,
      })
    }
  }

  /**
   * Parses every data row of a sheet into records for one or more targets. `targets` returns, per row, which
   * field sets apply (so one v4 Synchronization row can feed both a synchronization and a cycle summary).
   */
  parseRows(
    sheet: RawSheet,
    fields: readonly FieldMap[],
    extraTargets?: (row: RawRow) => ReadonlyArray<readonly FieldMap[]>,
  ): Array<{main: ParsedRecord; others: ParsedRecord[]}> {
    const warned = new Set<string>()
    const out: Array<{main: ParsedRecord; others: ParsedRecord[]}> = []
    for (const row of sheet.rows) {
      const consumed = new Set<string>()
      const extra: Record<string, unknown> = {}
      const values = this.readFields(sheet, row, fields, consumed, extra)
      const others = (extraTargets?.(row) ?? []).map((set) => ({
        values: this.readFields(sheet, row, set, consumed, extra),
        extra: {},
        sheet: sheet.name,
        row: row.rowNumber,
      }))
      this.collectExtra(sheet, row, consumed, extra, warned)
      out.push({main: {values, extra, sheet: sheet.name, row: row.rowNumber}, others})
    }
    if (sheet.rows.length === 0)
      this.collectExtra(
        sheet,
        {rowNumber: 1, cells: new Map()},
        new Set(fields.flatMap((f) => f.headers)),
        {},
        warned,
      )
    return out
  }
}

/** Turns a read workbook into canonical records, or lists every problem that keeps it from being imported. */
export function parseLog(workbook: RawWorkbook, options: ParseLogOptions): ParseLogResult {
  const file = options.file
  const nonEmpty = workbook.sheets.filter((s) => s.headers.length > 0)
  const refuse = (code: string, message: string): ParseLogResult => ({
    parsed: null,
    draft: null,
    problems: [{file, sheet: null, row: null, column: null, code, message}],
    warnings: [],
  })
  if (nonEmpty.length === 0) {
    return refuse(
      'WORKBOOK_EMPTY',
      'the workbook has no sheets with data; expected a processing log (Summary, Audio, Biomechanics, Synchronization, Movement Cycles)',
    )
  }
  const layout = detectLayout(workbook)
  if (!layout) {
    return refuse(
      'LAYOUT_UNKNOWN',
      `sheets ${workbook.sheets.map((s) => JSON.stringify(s.name)).join(', ')} are not those of a processing log; expected Summary with Audio, Biomechanics, Synchronization and Movement Cycles, or Summary with Maneuver Summaries`,
    )
  }
  const parser = new SheetParser(file, layout.kind, layout.version, options)
  const parsed =
    layout.kind === 'knee'
      ? parseKneeLog(workbook, parser, layout.version, file, options)
      : parseManeuverLog(workbook, parser, layout.version, file, options)
  if (parsed) checkDuplicateKeys(parsed, parser)
  return {
    parsed: parser.problems.length > 0 ? null : parsed,
    draft: parsed,
    problems: parser.problems,
    warnings: parser.warnings,
  }
}

function sheetOf(workbook: RawWorkbook, name: string): RawSheet | undefined {
  return workbook.sheets.find((s) => s.name === name)
}

function isPlaceholder(sheet: RawSheet): boolean {
  return sheet.headers.length === 1 && sheet.headers[0] === PLACEHOLDER_HEADER
}

function placeholderText(sheet: RawSheet): string | null {
  const cell = sheet.rows[0]?.cells.get(PLACEHOLDER_HEADER)
  return cell === undefined || cell === null ? null : String(verbatim(cell))
}

function parseManeuverLog(
  workbook: RawWorkbook,
  parser: SheetParser,
  version: FormatVersion,
  file: string,
  options: ParseLogOptions,
): ParsedManeuverLog | null {
  const summarySheet = sheetOf(workbook, 'Summary')!
  const fromName = identityFromFileName(file)
  let log: ParsedRecord
  if (version === 'v5') {
    log = parseMetricSummary(summarySheet)
  } else {
    // A Summary with problems still gives what it can: the other sheets are checked too, every problem at once.
    log =
      parseSingleRow(parser, summarySheet, 'maneuver/Summary', SUMMARY_FIELDS) ??
      emptyRecord(summarySheet.name)
  }
  const placeholders: Record<string, unknown> = {}
  const stage = (
    name: string,
    required: string,
    fields: readonly FieldMap[],
    extraTargets?: (row: RawRow) => ReadonlyArray<readonly FieldMap[]>,
  ) => {
    const sheet = sheetOf(workbook, name)
    if (!sheet) return [] as Array<{main: ParsedRecord; others: ParsedRecord[]}>
    parser.sheetsRead.add(sheet.name)
    if (isPlaceholder(sheet)) {
      parser.sheetsRead.add(name)
      placeholders[`${name} > ${PLACEHOLDER_HEADER}`] = placeholderText(sheet)
      return []
    }
    if (!parser.checkHeaders(sheet, required)) {
      // Its other cells are still checked, so one run lists every problem; no records come of the sheet.
      parser.parseRows(sheet, fields, extraTargets)
      return []
    }
    return parser.parseRows(sheet, fields, extraTargets)
  }
  const audio = stage('Audio', 'maneuver/Audio', AUDIO_FIELDS).map((r) => r.main)
  const biomechanics = stage('Biomechanics', 'maneuver/Biomechanics', BIOMECHANICS_FIELDS).map((r) => r.main)
  const modern = version === 'v4' || version === 'v5'
  const syncRows = stage('Synchronization', 'maneuver/Synchronization', SYNC_FIELDS, (row) =>
    modern && hasCycleSummary(row) ? [SYNC_CYCLE_SUMMARY_FIELDS] : [],
  )
  const syncs = syncRows.map((r) => r.main)
  let summaries: ParsedRecord[]
  let cycles: ParsedRecord[]
  if (modern) {
    summaries = syncRows.flatMap(({main, others}) =>
      others.map((o) => ({
        ...o,
        values: {
          ...o.values,
          sync_file: main.values.sync_file,
          pass_number: main.values.pass_number,
          speed: main.values.speed,
          knee: main.values.knee,
          processing_date: main.values.processing_date,
          status: main.values.status,
          qc_version: main.values.cycle_qc_version,
        },
      })),
    )
    const cycleSheet = version === 'v5' ? 'Cycles' : 'Movement Cycles'
    cycles = stage(cycleSheet, `maneuver/${cycleSheet}@cycles`, CYCLE_FIELDS).map((r) => r.main)
    for (const cycle of cycles) cycle.values.sync_file = syncFileOfCycle(cycle, syncs)
  } else {
    summaries = stage('Movement Cycles', 'maneuver/Movement Cycles@summary', CYCLE_SUMMARY_FIELDS).map(
      (r) => r.main,
    )
    cycles = stage('Cycle Details', 'maneuver/Cycle Details', CYCLE_FIELDS).map((r) => r.main)
  }
  for (const cycle of cycles) {
    for (const column of ['cycle_index', 'is_outlier'] as const) {
      if (cycle.values[column] === null)
        parser.problem(
          cycle.sheet,
          cycle.row,
          column === 'cycle_index' ? 'Cycle Index' : 'Is Outlier',
          'MISSING_VALUE',
          'found (empty), expected a value',
        )
    }
  }
  Object.assign(log.extra, placeholders, keepUnreadSheets(workbook, parser, file))
  // `Num Movement Cycles` meant the sum of `Total Cycles` up to v3, and the number of per-cycle rows from v4 on.
  const counted = modern
    ? cycles.length
    : summaries.reduce(
        (n, s) => n + (typeof s.values.total_cycles === 'number' ? s.values.total_cycles : 0),
        0,
      )
  const stated = log.values.num_movement_cycles
  // A workbook with problems is rejected, and a refused sheet gives no rows to count: no count to compare then.
  if (typeof stated === 'number' && stated !== counted && parser.problems.length === 0) {
    parser.warnings.push({
      code: 'CYCLE_COUNT_MISMATCH',
      message: `${file} > Summary: Num Movement Cycles is ${stated} but the log holds ${counted} ${modern ? 'cycle rows' : 'cycles in Movement Cycles > Total Cycles'}`,
    })
  }
  const knee = (log.values.knee as 'left' | 'right' | null) ?? fromName.knee
  const maneuver = (log.values.maneuver as 'walk' | 'sts' | 'fe' | null) ?? fromName.maneuver
  if (!knee || !maneuver) {
    parser.problem(
      'Summary',
      2,
      knee ? 'Maneuver' : 'Knee Side',
      'MISSING_VALUE',
      `found (empty), expected the ${knee ? 'maneuver' : 'knee'} (and the file name does not say either)`,
    )
    return null
  }
  log.values.knee = knee
  log.values.maneuver = maneuver
  const identity = identifyParticipant(parser, log, file, options.absolutePath ?? file)
  const studies = new Set<StudyName>()
  if (identity.study) studies.add(identity.study)
  // Not Biomechanics: the v4 writer left that record's Study/Study ID at their defaults (AOA, 1) for every study.
  for (const record of [...audio, ...syncs, ...cycles]) {
    const named = studyName(record.extra.Study)
    if (named) studies.add(named)
  }
  checkStudyValues(parser, [...audio, ...syncs, ...cycles], file, options)
  if (studies.size > 1) {
    parser.problem(
      null,
      null,
      'Study',
      'STUDY_CONFLICT',
      `the workbook names several studies (${[...studies].join(', ')}); expected one`,
    )
  }
  const references = maneuverReferences(audio, biomechanics, syncs, summaries, cycles)
  return {
    kind: 'maneuver',
    file,
    version,
    participantNumber: identity.number,
    studyNamed: [...studies][0] ?? null,
    knee,
    maneuver,
    log,
    audio,
    biomechanics,
    syncs,
    summaries,
    cycles,
    references,
  }
}

/** The files a maneuver log names (raw audio, pickles, the biomechanics workbook, cycle folders). */
function maneuverReferences(
  audio: ParsedRecord[],
  biomechanics: ParsedRecord[],
  syncs: ParsedRecord[],
  summaries: ParsedRecord[],
  cycles: ParsedRecord[],
): ParsedBase['references'] {
  const references: ParsedBase['references'] = []
  for (const a of audio) {
    for (const column of ['bin_file', 'pickle_file'] as const) {
      const value = a.values[column]
      if (typeof value === 'string' && value !== '')
        references.push({value, kind: column === 'bin_file' ? 'raw_audio' : 'pickle'})
    }
    const audioFile = a.values.audio_file
    if (typeof audioFile === 'string' && audioFile !== '' && !a.values.pickle_file) {
      references.push({value: `${audioFile}.pkl`, kind: 'pickle', defaultDir: 'audio_outputs'})
      if (!a.values.bin_file)
        references.push({value: `${audioFile.replace(/_with_freq$/, '')}.bin`, kind: 'raw_audio'})
    }
  }
  for (const b of biomechanics) {
    const value = b.values.biomechanics_file
    if (typeof value === 'string' && value !== '' && value !== 'unknown') {
      references.push({value, kind: 'spreadsheet', defaultDir: '../../Motion Capture'})
    }
  }
  for (const s of syncs) {
    const value = s.values.sync_file
    if (typeof value === 'string' && value !== '')
      references.push({
        value: path.posix.extname(value) ? value : `${value}.pkl`,
        kind: 'pickle',
        defaultDir: 'Synced',
      })
  }
  for (const s of summaries) {
    const value = s.values.output_directory
    if (typeof value === 'string' && value !== '') references.push({value, kind: 'directory'})
  }
  for (const c of cycles) {
    const value = c.values.cycle_file
    if (typeof value === 'string' && value !== '') references.push({value, kind: 'pickle'})
  }
  return references
}

/** A Summary sheet: the required headers and exactly one data row. */
function parseSingleRow(
  parser: SheetParser,
  sheet: RawSheet,
  requiredKey: string,
  fields: readonly FieldMap[],
): ParsedRecord | null {
  // Missing headers are recorded as problems; the row is still read for the values it has.
  parser.checkHeaders(sheet, requiredKey)
  if (sheet.rows.length !== 1) {
    parser.problem(
      sheet.name,
      2,
      null,
      'SUMMARY_ROWS',
      `found ${sheet.rows.length} data rows; expected exactly one`,
    )
    return null
  }
  return parser.parseRows(sheet, fields)[0]!.main
}

/** A record with no values, standing in for a Summary that could not be read, so the other sheets are still checked. */
function emptyRecord(sheet: string): ParsedRecord {
  return {values: {}, extra: {}, sheet, row: 2}
}

/** Rows of sheets outside the layout (notes a researcher added, a v5 Legend Validation): verbatim, with a warning. */
function keepUnreadSheets(workbook: RawWorkbook, parser: SheetParser, file: string): Record<string, unknown> {
  const kept: Record<string, unknown> = {}
  for (const sheet of workbook.sheets) {
    if (parser.sheetsRead.has(sheet.name) || sheet.name === 'Summary') continue
    const rows = [
      ...(sheet.headers.length > 0
        ? [{rowNumber: 1, cells: new Map(sheet.headers.map((h) => [h, h] as const))}]
        : []),
      ...sheet.rows,
    ]
    if (rows.length === 0) continue
    for (const row of rows) {
      kept[`${sheet.name} > row ${row.rowNumber}`] = Object.fromEntries(
        [...row.cells].map(([h, v]) => [h, verbatim(v)]),
      )
    }
    for (const cell of sheet.headerless) {
      kept[`${sheet.name} > row ${cell.row} > column ${cell.column}`] = verbatim(cell.value)
    }
    parser.warnings.push({
      code: 'UNKNOWN_SHEET',
      message: `${file}: sheet ${JSON.stringify(sheet.name)} is not part of the layout; its cells are kept verbatim in the log's extra`,
    })
  }
  return kept
}

function hasCycleSummary(row: RawRow): boolean {
  const type = row.cells.get('Record Type')
  if (typeof type === 'string') return type === 'sync_with_cycles'
  return SYNC_CYCLE_SUMMARY_FIELDS.some((f) => f.headers.some((h) => !isEmptyCell(row.cells.get(h) ?? null)))
}

/** v4 cycles name no sync file: take it from the cycle file name, else from the sync with the same pass and speed. */
function syncFileOfCycle(cycle: ParsedRecord, syncs: ParsedRecord[]): string | null {
  const cycleFile = cycle.values.cycle_file
  if (typeof cycleFile === 'string') {
    const match = /^(.*)_(?:cycle|outlier)_\d+(?:\.pkl)?$/.exec(path.posix.basename(cycleFile))
    if (match?.[1] && syncs.some((s) => s.values.sync_file === match[1])) return match[1]
  }
  const pass = cycle.extra['Pass Number'] ?? null
  const speedCell = cycle.extra.Speed
  const speed = typeof speedCell === 'string' ? convertCell(speedCell, 'speed') : null
  const candidates = syncs.filter(
    (s) =>
      (s.values.pass_number ?? null) === pass &&
      (s.values.speed ?? null) === (speed?.ok ? speed.value : null),
  )
  if (candidates.length === 1) return (candidates[0]!.values.sync_file as string | null) ?? null
  if (syncs.length === 1) return (syncs[0]!.values.sync_file as string | null) ?? null
  if (typeof cycleFile === 'string') {
    const match = /^(.*)_(?:cycle|outlier)_\d+(?:\.pkl)?$/.exec(path.posix.basename(cycleFile))
    if (match?.[1]) return match[1]
  }
  return null
}

function parseMetricSummary(sheet: RawSheet): ParsedRecord {
  const extra: Record<string, unknown> = {}
  for (const row of sheet.rows) {
    const metric = row.cells.get('Metric')
    if (metric === undefined || metric === null) continue
    extra[`Metric: ${String(verbatim(metric))}`] = verbatim(row.cells.get('Value') ?? null)
  }
  const values: Record<string, unknown> = Object.fromEntries(SUMMARY_FIELDS.map((f) => [f.column, null]))
  const find = (name: string) =>
    sheet.rows.find((r) => r.cells.get('Metric') === name)?.cells.get('Value') ?? null
  for (const [column, metric, type] of [
    ['legacy_study_id', 'Study ID', 'text'],
    ['knee', 'Knee', 'knee'],
    ['maneuver', 'Maneuver', 'maneuver'],
    ['num_synced_files', 'Synchronization Records', 'int'],
    ['num_movement_cycles', 'Movement Cycles', 'int'],
  ] as const) {
    const converted = convertCell(find(metric), type)
    if (converted.ok) values[column] = converted.value
  }
  return {values, extra, sheet: sheet.name, row: 2}
}

function parseKneeLog(
  workbook: RawWorkbook,
  parser: SheetParser,
  version: FormatVersion,
  file: string,
  options: ParseLogOptions,
): ParsedKneeLog | null {
  const fromName = identityFromFileName(file)
  let log: ParsedRecord
  let maneuvers: ParsedRecord[] = []
  const placeholders: Record<string, unknown> = {}
  if (version === 'v5') {
    const sheet = sheetOf(workbook, 'Knee Summary')!
    log = {
      values: Object.fromEntries(KNEE_SUMMARY_FIELDS.map((f) => [f.column, null])),
      extra: {},
      sheet: sheet.name,
      row: 1,
    }
    if (parser.checkHeaders(sheet, 'knee/Knee Summary'))
      maneuvers = parser.parseRows(sheet, KNEE_MANEUVER_FIELDS).map((r) => r.main)
  } else {
    const summary = sheetOf(workbook, 'Summary')!
    log = parseSingleRow(parser, summary, 'knee/Summary', KNEE_SUMMARY_FIELDS) ?? emptyRecord(summary.name)
    const sheet = sheetOf(workbook, 'Maneuver Summaries')!
    if (isPlaceholder(sheet))
      placeholders[`Maneuver Summaries > ${PLACEHOLDER_HEADER}`] = placeholderText(sheet)
    else if (parser.checkHeaders(sheet, 'knee/Maneuver Summaries'))
      maneuvers = parser.parseRows(sheet, KNEE_MANEUVER_FIELDS).map((r) => r.main)
  }
  Object.assign(log.extra, placeholders, keepUnreadSheets(workbook, parser, file))
  for (const m of maneuvers) {
    if (m.values.maneuver === null)
      parser.problem(
        m.sheet,
        m.row,
        'Maneuver',
        'MISSING_VALUE',
        'found (empty), expected walk, sit_to_stand or flexion_extension',
      )
  }
  const knee = (log.values.knee as 'left' | 'right' | null) ?? fromName.knee
  if (!knee) {
    parser.problem(
      'Summary',
      2,
      'Knee Side',
      'MISSING_VALUE',
      'found (empty), expected Left or Right (and the file name does not say)',
    )
    return null
  }
  log.values.knee = knee
  const identity = identifyParticipant(parser, log, file, options.absolutePath ?? file)
  return {
    kind: 'knee',
    file,
    version,
    participantNumber: identity.number,
    studyNamed: identity.study,
    knee,
    log,
    maneuvers,
    references: [],
  }
}

/**
 * A Study cell that names no known study: a problem (a warning under --coerce-invalid), once per sheet and value
 * with the first row and how many rows hold it, since every row of a sheet usually repeats it.
 */
function checkStudyValues(
  parser: SheetParser,
  records: readonly ParsedRecord[],
  file: string,
  options: ParseLogOptions,
): void {
  const unknown = new Map<string, {record: ParsedRecord; value: string; rows: number}>()
  for (const record of records) {
    const value = record.extra.Study
    if (value === undefined || value === null || String(value).trim() === '' || studyName(value)) continue
    const key = JSON.stringify([record.sheet, String(value)])
    const seen = unknown.get(key)
    if (seen) seen.rows++
    else unknown.set(key, {record, value: String(value), rows: 1})
  }
  for (const {record, value, rows} of unknown.values()) {
    const found = `found ${JSON.stringify(value)}${rows > 1 ? ` (in ${rows} rows)` : ''}, expected one of ${STUDY_NAMES.join(', ')}`
    if (options.coerceInvalid)
      parser.warnings.push({
        code: 'COERCED_INVALID',
        message: `${file} > ${record.sheet} > row ${record.row} > Study: ${found}; ignored`,
      })
    else parser.problem(record.sheet, record.row, 'Study', 'INVALID_VALUE', found)
  }
}

function checkDuplicateKeys(parsed: ParsedLog, parser: SheetParser): void {
  const groups: Array<[ParsedRecord[], string[], string]> =
    parsed.kind === 'knee'
      ? [[parsed.maneuvers, ['maneuver'], 'Maneuver']]
      : [
          [parsed.audio, ['audio_file'], 'Audio File'],
          [parsed.biomechanics, ['biomechanics_file', 'sheet_name'], 'Biomechanics File'],
          [parsed.syncs, ['sync_file'], 'Sync File'],
          [parsed.summaries, ['sync_file'], 'Source Sync File'],
          [parsed.cycles, ['sync_file', 'is_outlier', 'cycle_index'], 'Cycle Index'],
        ]
  for (const [records, columns, header] of groups) {
    const seen = new Map<string, number>()
    for (const record of records) {
      const key = JSON.stringify(columns.map((c) => record.values[c] ?? null))
      const first = seen.get(key)
      if (first !== undefined) {
        parser.problem(
          record.sheet,
          record.row,
          header,
          'DUPLICATE_KEY',
          `found the same ${columns.join(' + ')} as row ${first}; expected each record once`,
        )
      } else {
        seen.set(key, record.row)
      }
    }
  }
}

export function studyName(value: unknown): StudyName | null {
  if (typeof value !== 'string') return null
  const match = STUDY_NAMES.find((s) => s.toLowerCase() === value.trim().toLowerCase())
  return match ?? null
}

const MAX_PARTICIPANT_NUMBER = 2_147_483_647

export interface ParticipantIdentity {
  number: number | null
  study: StudyName | null
  /** Where the name (folder, file) and the Study ID cell disagree, or one of them is not a participant number. */
  warnings: string[]
  /** Set when the only number there is cannot be a participant number (out of range). */
  problem: string | null
}

/**
 * Participant number and study prefix from `Study ID` (`1011`, `AOA1011`), else from the `#1011` folder, else the
 * file name. Disagreements between the cell and the names are reported (issue 9 item 7); a number out of the range of
 * a participant number (1 to 2 147 483 647) is never used.
 */
export function participantIdentity(studyIdCell: string | null, file: string): ParticipantIdentity {
  const warnings: string[] = []
  const cellText = studyIdCell?.trim() ? studyIdCell : null
  const cell = cellText === null ? null : studyIdFromCell(cellText)
  const named = namedNumbers(file)
  if (cellText !== null && cell === null)
    warnings.push(
      `Study ID ${JSON.stringify(cellText)} is not a participant number (expected 1 to ${MAX_PARTICIPANT_NUMBER}, optionally after a study prefix such as AOA)`,
    )
  for (const n of named) {
    if (cell !== null && n.digits !== String(cell.number))
      warnings.push(
        `Study ID says participant ${cell.number} but the ${n.where} says ${n.digits}; used ${cell.number}`,
      )
    if (cell?.study && n.study && cell.study !== n.study)
      warnings.push(`Study ID names study ${cell.study} but the ${n.where} names ${n.study}`)
  }
  if (cell !== null) return {number: cell.number, study: cell.study, warnings, problem: null}
  const [first, second] = named
  if (!first) return {number: null, study: null, warnings, problem: null}
  const number = Number(first.digits)
  if (!(number > 0 && number <= MAX_PARTICIPANT_NUMBER))
    return {
      number: null,
      study: null,
      warnings,
      problem: `the ${first.where} says participant ${first.digits}, out of range; expected a participant number from 1 to ${MAX_PARTICIPANT_NUMBER} (in Study ID or the folder name)`,
    }
  if (second && second.digits !== first.digits)
    warnings.push(
      `the ${first.where} says participant ${first.digits} but the ${second.where} says ${second.digits}; used ${first.digits}`,
    )
  if (cellText !== null) warnings.push(`used participant ${number} from the ${first.where}`)
  return {number, study: first.study, warnings, problem: null}
}

/** The participant numbers the path names: the nearest `#1011` folder, then the log's file name. */
function namedNumbers(file: string): Array<{where: string; digits: string; study: StudyName | null}> {
  const out: Array<{where: string; digits: string; study: StudyName | null}> = []
  const folder = file
    .split('/')
    .reverse()
    .map((part) => /^#\s*([A-Za-z]*)0*(\d+)$/.exec(part))
    .find((m) => m !== null)
  if (folder)
    out.push({
      where: `folder ${folder[0]}`,
      digits: folder[2]!,
      study: folder[1] ? studyName(folder[1]) : null,
    })
  const fromName = identityFromFileName(file)
  if (fromName.digits !== null)
    out.push({
      where: `file name ${path.posix.basename(file)}`,
      digits: fromName.digits,
      study: fromName.study,
    })
  return out
}

function studyIdFromCell(text: string): {number: number; study: StudyName | null} | null {
  const match = /^\s*([A-Za-z]*)\s*0*(\d+)\s*$/.exec(text)
  if (!match) return null
  const number = Number(match[2])
  if (!(number > 0 && number <= MAX_PARTICIPANT_NUMBER)) return null
  return {number, study: match[1] ? studyName(match[1]) : null}
}

/** The participant of a log, with its disagreements as warnings and an impossible number as a problem at Study ID. */
function identifyParticipant(
  parser: SheetParser,
  log: ParsedRecord,
  file: string,
  absolutePath: string,
): ParticipantIdentity {
  const identity = participantIdentity(log.values.legacy_study_id as string | null, absolutePath)
  for (const message of identity.warnings)
    parser.warnings.push({
      code: 'PARTICIPANT_MISMATCH',
      message: `${file} > Summary > row 2 > Study ID: ${message}`,
    })
  if (identity.problem) parser.problem('Summary', 2, 'Study ID', 'PARTICIPANT_OUT_OF_RANGE', identity.problem)
  return identity
}

const LOG_NAME =
  /^(knee_)?processing_log_([A-Za-z]*)(\d+)_(Left|Right)(?:_(walk|sit_to_stand|flexion_extension))?\.xlsx$/i

/** Knee, maneuver and participant from `processing_log_<id>_<Knee>_<maneuver>.xlsx` / `knee_processing_log_<id>_<Knee>.xlsx`. */
export function identityFromFileName(file: string): {
  kind: LogKind | null
  number: number | null
  /** The participant digits as written (leading zeros dropped), also when out of any range. */
  digits: string | null
  study: StudyName | null
  knee: 'left' | 'right' | null
  maneuver: 'walk' | 'sts' | 'fe' | null
} {
  const match = LOG_NAME.exec(path.posix.basename(file))
  if (!match) return {kind: null, number: null, digits: null, study: null, knee: null, maneuver: null}
  const maneuver = match[5]
    ? (convertCell(match[5], 'maneuver') as {value: 'walk' | 'sts' | 'fe'}).value
    : null
  return {
    kind: match[1] ? 'knee' : match[5] ? 'maneuver' : null,
    number: Number(match[3]),
    digits: match[3]!.replace(/^0+(?=\d)/, ''),
    study: match[2] ? studyName(match[2]) : null,
    knee: match[4]!.toLowerCase() as 'left' | 'right',
    maneuver,
  }
}

/** The header nearest to `wanted` (edit distance), to name in a missing-column message. */
export function closestHeader(wanted: string, headers: readonly string[]): string | null {
  let best: string | null = null
  let bestDistance = Number.POSITIVE_INFINITY
  for (const header of headers) {
    const distance = editDistance(wanted.toLowerCase(), header.toLowerCase())
    if (distance < bestDistance) {
      best = header
      bestDistance = distance
    }
  }
  return best !== null && bestDistance <= Math.max(3, wanted.length / 2) ? best : null
}

function editDistance(a: string, b: string): number {
  const previous = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!
    previous[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!
      previous[j] = Math.min(
        previous[j]! + 1,
        previous[j - 1]! + 1,
        diagonal + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
      diagonal = above
    }
  }
  return previous[b.length]!
}

export type {CellValue}
