/**
 * Cell values as the legacy pipeline wrote them, and their conversion to typed columns.
 *
 * pandas/openpyxl wrote: text, numbers (integral floats come back as integers), Excel booleans, date cells in the
 * 1900 system holding naive wall-clock time to the microsecond (Python's `datetime.now()`), and nothing at all for
 * None/NaN. Dates are carried as naive `YYYY-MM-DD HH:MM:SS.ffffff` text so no machine time zone can shift them and
 * no precision is lost on the way to PostgreSQL's microsecond `timestamp`.
 */
export type CellValue = string | number | boolean | {naive: string} | null

export type FieldType =
  | 'text'
  | 'int'
  | 'count'
  | 'float'
  | 'bool'
  | 'timestamp'
  | 'intervals'
  | 'knee'
  | 'maneuver'
  | 'speed'
  | 'status'
  | 'mic'
  | 'sync_method'

export type Converted = {ok: true; value: unknown} | {ok: false; expected: string}

const ENUMS: Partial<Record<FieldType, {expected: string; map: Record<string, string>}>> = {
  knee: {expected: 'Left or Right', map: {left: 'left', right: 'right', l: 'left', r: 'right'}},
  maneuver: {
    expected: 'walk, sit_to_stand or flexion_extension (or the codes walk, sts, fe)',
    map: {
      walk: 'walk',
      walking: 'walk',
      sit_to_stand: 'sts',
      'sit-stand': 'sts',
      sts: 'sts',
      flexion_extension: 'fe',
      'flexion-extension': 'fe',
      fe: 'fe',
    },
  },
  // The pipeline mapped file-name speed `normal` to `medium`; early logs still hold `normal`.
  speed: {
    expected: 'slow, normal, medium, fast or comfortable',
    map: {slow: 'slow', normal: 'medium', medium: 'medium', fast: 'fast', comfortable: 'comfortable'},
  },
  status: {
    expected: 'not_processed, success or error',
    map: {not_processed: 'not_processed', success: 'success', error: 'error'},
  },
  mic: {expected: 'IPM, IPL, SPM or SPL', map: {ipm: 'IPM', ipl: 'IPL', spm: 'SPM', spl: 'SPL'}},
  sync_method: {
    expected: 'audio, consensus or biomechanics',
    map: {audio: 'audio', consensus: 'consensus', biomechanics: 'biomechanics'},
  },
}

const NAN_TEXT = new Set(['nan', 'NaN', 'none', 'None'])

/** No cell at all (pandas wrote None and NaN as absent cells) or an empty string. Whitespace is text. */
export function isEmptyCell(value: CellValue): boolean {
  return value === null || value === ''
}

/** The value as it appears in a row's `extra` jsonb: verbatim, dates as their naive text. */
export function verbatim(value: CellValue): string | number | boolean | null {
  if (value !== null && typeof value === 'object') return value.naive
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  return value
}

/** What the cell looked like, for messages: `"abc"`, `12.5`, `TRUE`, `2024-03-13 12:53:51`. */
export function describeCell(value: CellValue): string {
  if (value === null) return '(empty)'
  if (typeof value === 'object') return value.naive
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE'
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)
  return String(value)
}

export function convertCell(value: CellValue, type: FieldType): Converted {
  if (isEmptyCell(value)) return {ok: true, value: null}
  switch (type) {
    case 'text':
      return {ok: true, value: typeof value === 'object' && value !== null ? value.naive : String(value)}
    case 'int':
      return toInt(value)
    case 'count': {
      const n = toInt(value)
      if (!n.ok || n.value === null || (n.value as number) >= 0)
        return n.ok ? n : {ok: false, expected: 'a whole number of 0 or more'}
      return {ok: false, expected: 'a whole number of 0 or more'}
    }
    case 'float':
      return toFloat(value)
    case 'bool':
      return toBool(value)
    case 'timestamp':
      return toTimestamp(value)
    case 'intervals':
      return toIntervals(value)
    default: {
      const spec = ENUMS[type]!
      if (typeof value !== 'string') return {ok: false, expected: spec.expected}
      const mapped = spec.map[value.trim().toLowerCase()]
      return mapped ? {ok: true, value: mapped} : {ok: false, expected: spec.expected}
    }
  }
}

function toFloat(value: CellValue): Converted {
  if (typeof value === 'number') return {ok: true, value}
  if (typeof value === 'string') {
    const text = value.trim()
    if (text === '' || NAN_TEXT.has(text)) return {ok: true, value: null}
    if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text)) return {ok: true, value: Number(text)}
    if (/^[-+]?inf(inity)?$/i.test(text))
      return {ok: true, value: text.startsWith('-') ? -Infinity : Infinity}
  }
  return {ok: false, expected: 'a number'}
}

function toInt(value: CellValue): Converted {
  const asFloat = toFloat(value)
  if (!asFloat.ok) return {ok: false, expected: 'a whole number'}
  if (asFloat.value === null) return asFloat
  const n = asFloat.value as number
  if (!Number.isInteger(n) || Math.abs(n) > 2_147_483_647) return {ok: false, expected: 'a whole number'}
  return {ok: true, value: n}
}

function toBool(value: CellValue): Converted {
  if (typeof value === 'boolean') return {ok: true, value}
  if (value === 0 || value === 1) return {ok: true, value: value === 1}
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase()
    if (text === 'true') return {ok: true, value: true}
    if (text === 'false') return {ok: true, value: false}
  }
  return {ok: false, expected: 'TRUE or FALSE'}
}

const MICROS_PER_DAY = 86_400_000_000
/** 1899-12-30, day 0 of Excel's 1900 date system, in microseconds before the Unix epoch (25 569 days). */
const EXCEL_EPOCH_DAYS = 25_569
/** The 1904 date system starts 1 462 days later. */
const DATE_1904_OFFSET_DAYS = 1_462

function toTimestamp(value: CellValue): Converted {
  if (value !== null && typeof value === 'object') return {ok: true, value: value.naive}
  if (typeof value === 'number' && value > 0 && value < 2_958_466)
    return {ok: true, value: excelSerialToNaive(value)}
  if (typeof value === 'string') {
    const match = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?$/.exec(value.trim())
    if (match) {
      const [, y, mo, d, h = '00', mi = '00', s = '00', frac = ''] = match
      const micros = frac ? Math.round(Number(`0${frac}`) * 1_000_000) : 0
      const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))
      const date = new Date(ms)
      if (!Number.isNaN(ms) && date.getUTCDate() === Number(d))
        return {ok: true, value: naiveFromMicros(ms * 1000 + micros)}
    }
  }
  return {ok: false, expected: 'a date and time'}
}

/**
 * An Excel serial as naive wall-clock text, rounded to the nearest microsecond: a double holds a serial of this era
 * to about a microsecond, and the legacy files hold `datetime.now()` values (the 1900 leap-year bug only matters
 * before March 1900).
 */
export function excelSerialToNaive(serial: number, date1904 = false): string {
  const days = serial - EXCEL_EPOCH_DAYS + (date1904 ? DATE_1904_OFFSET_DAYS : 0)
  return naiveFromMicros(Math.round(days * MICROS_PER_DAY))
}

/** Microseconds since 1970-01-01 00:00 (naive) as `YYYY-MM-DD HH:MM:SS.ffffff`. */
export function naiveFromMicros(micros: number): string {
  const ms = Math.floor(micros / 1000)
  const date = new Date(ms)
  const fraction = String(micros - ms * 1000 + date.getUTCMilliseconds() * 1000).padStart(6, '0')
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}.${fraction}`
}

/** A Date whose UTC fields hold a naive wall-clock time, as `YYYY-MM-DD HH:MM:SS.ffffff`. */
export function naiveText(date: Date): string {
  return naiveFromMicros(date.getTime() * 1000)
}

/**
 * Naive timestamp text (ours, or PostgreSQL's `2026-01-01 01:46:30.19`) as microseconds since 1970, to compare two
 * editions of a log to the microsecond. NaN when the text is not a timestamp.
 */
export function naiveToMicros(text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?/.exec(text)
  if (!match) return Number.NaN
  const ms = Date.parse(`${match[1]}T${match[2]}Z`)
  return ms * 1000 + Number((match[3] ?? '').padEnd(6, '0'))
}

/** `"[(1.25, 2.5), (10.0, 10.75)]"` (a Python repr of (start, end) pairs) → `[1.25, 2.5, 10, 10.75]`. */
function toIntervals(value: CellValue): Converted {
  const expected = 'a list of (start, end) pairs such as [(1.25, 2.5)]'
  if (typeof value !== 'string') return {ok: false, expected}
  const text = value.trim()
  if (!/^\[.*\]$/s.test(text)) return {ok: false, expected}
  const inner = text.slice(1, -1).trim()
  if (inner === '') return {ok: true, value: []}
  if (!/^[\s()[\],\d.eE+\-naifNAIF]*$/.test(inner)) return {ok: false, expected}
  const numbers: number[] = []
  for (const token of inner.replace(/[()[\]]/g, ' ').split(/[\s,]+/)) {
    if (token === '') continue
    const parsed = toFloat(token)
    if (!parsed.ok || parsed.value === null) return {ok: false, expected}
    numbers.push(parsed.value as number)
  }
  return {ok: true, value: numbers}
}

/**
 * Whether the typed value gives the cell back exactly. When it does not (`normal` stored as `medium`, `"nan"` as
 * NULL, text in a date column, an interval repr written differently), the importer keeps the cell verbatim in
 * `extra` too, so an export can restore what the legacy file said.
 */
export function roundTrips(cell: CellValue, value: unknown, type: FieldType): boolean {
  if (isEmptyCell(cell)) return value === null
  switch (type) {
    case 'text':
      return typeof cell === 'string' && cell === value
    case 'int':
    case 'count':
    case 'float':
      return typeof cell === 'number' && cell === value
    case 'bool':
      return typeof cell === 'boolean'
    case 'timestamp':
      return typeof cell === 'object' && cell !== null
    case 'intervals':
      return Array.isArray(value) && cell === pythonIntervalsRepr(value as number[])
    default:
      return typeof cell === 'string' && cell === value
  }
}

/** The repr the legacy pipeline wrote for a flattened list of (start, end) pairs: `[(1.25, 2.5), (10.0, 10.75)]`. */
export function pythonIntervalsRepr(flat: readonly number[]): string {
  const float = (n: number) => (Number.isInteger(n) ? `${n}.0` : String(n))
  const pairs: string[] = []
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push(`(${float(flat[i]!)}, ${float(flat[i + 1]!)})`)
  return flat.length % 2 === 0 ? `[${pairs.join(', ')}]` : `[${flat.map(float).join(', ')}]`
}
