import type ExcelJS from 'exceljs'
import {escapeExcelString} from './xlsx/escape-xml-text.js'

/** The number format the legacy pipeline (pandas/openpyxl) gave date cells; Excel and Calc show it as written. */
export const DATE_FORMAT = 'YYYY-MM-DD HH:MM:SS'

const NAIVE_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$/
const MICROSECONDS_PER_DAY = 86_400_000_000
const EXCEL_EPOCH_DAY = Date.UTC(1899, 11, 30) / 86_400_000

/**
 * A naive `timestamp` text (`2026-01-29 01:46:30.190255`, as both backends return it) as an Excel 1900-system
 * serial. Computed from the text's fields with integer day arithmetic, never through a local-time Date, so the
 * machine's TZ cannot move it; the fraction is taken from whole microseconds in one division, which keeps the
 * serial within half a microsecond of the instant (a reader rounding to the microsecond gets the text back).
 * Null when the text is not a timestamp.
 */
export function naiveToExcelSerial(text: string): number | null {
  const days = dayOf(text)
  if (days === null) return null
  if (text.length === 10) return days
  const micros = microsOfDay(text)
  return micros === null ? null : days + micros / MICROSECONDS_PER_DAY
}

/**
 * The time of day after the date part (` HH:MM:SS` or `THH:MM:SS`, then up to six fraction digits after a dot)
 * in whole microseconds, read digit by digit (an export has millions of them); null when it is no valid time.
 */
function microsOfDay(text: string): number | null {
  const end = text.length
  const sep = text.charCodeAt(10)
  if (end < 19 || (sep !== 0x20 && sep !== 0x54)) return null
  if (text.charCodeAt(13) !== 0x3a || text.charCodeAt(16) !== 0x3a) return null
  const h = twoDigits(text, 11)
  const mi = twoDigits(text, 14)
  const s = twoDigits(text, 17)
  if (h < 0 || mi < 0 || s < 0 || h > 23 || mi > 59 || s > 59) return null
  let fraction = 0
  if (end > 19) {
    if (text.charCodeAt(19) !== 0x2e || end === 20 || end > 26) return null
    for (let i = 20; i < 26; i++) {
      const digit = i < end ? text.charCodeAt(i) - 0x30 : 0
      if (digit < 0 || digit > 9) return null
      fraction = fraction * 10 + digit
    }
  }
  return ((h * 60 + mi) * 60 + s) * 1_000_000 + fraction
}

/** The number of two ASCII digits at `at`, or -1. */
function twoDigits(text: string, at: number): number {
  const a = text.charCodeAt(at) - 0x30
  const b = text.charCodeAt(at + 1) - 0x30
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1
}

/** The last date part seen (`YYYY-MM-DD`) and its serial day: an export's timestamps come in runs of the same day. */
let lastDay: {text: string; days: number | null} = {text: '\u0000', days: null}

/** The serial day of a text's `YYYY-MM-DD` part, checked to be a real date; null when it is none. */
function dayOf(text: string): number | null {
  if (text.startsWith(lastDay.text)) return lastDay.days
  const part = text.slice(0, 10)
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(part)
  let days: number | null = null
  if (match) {
    const [, y, mo, d] = match
    const dayMs = Date.UTC(Number(y), Number(mo) - 1, Number(d))
    const check = new Date(dayMs)
    if (check.getUTCMonth() === Number(mo) - 1 && check.getUTCDate() === Number(d))
      days = dayMs / 86_400_000 - EXCEL_EPOCH_DAY
  }
  lastDay = {text: part.length === 10 ? part : '\u0000', days}
  return days
}

/**
 * `naiveToExcelSerial` as the text of a `<v>`, printed from integers: the day, then the fraction of the day in 12
 * decimals (micros x 10,000 / 864 is below 2^53, so the division is one rounding), trailing zeros dropped. The
 * decimal is within 10^-12 day of the instant, so it reads back as the same serial to well within half a
 * microsecond, and printing it costs no double-to-shortest-text conversion. Null when the text is no timestamp.
 */
export function naiveToExcelSerialText(text: string): string | null {
  const days = dayOf(text)
  if (days === null) return null
  if (text.length === 10) return String(days)
  const micros = microsOfDay(text)
  if (micros === null) return null
  if (micros === 0) return String(days)
  // Before the epoch the day and its fraction have opposite signs: print the double (never seen in practice).
  if (days < 0) return String(days + micros / MICROSECONDS_PER_DAY)
  let fraction = String(Math.round((micros * 10_000) / 864)).padStart(12, '0')
  let end = fraction.length
  while (fraction.charCodeAt(end - 1) === 0x30) end--
  if (end < fraction.length) fraction = fraction.slice(0, end)
  return `${days}.${fraction}`
}

/** Whether a text looks exactly like the naive timestamp text aedb stores (what a date cell becomes in `extra`). */
export function isNaiveTimestamp(text: string): boolean {
  return NAIVE_TIMESTAMP.test(text) && text.length > 10
}

/** One value to put in a cell, already decided: text, number, boolean or a date (as naive text). */
export type ExportValue =
  | {kind: 'text'; value: string}
  | {kind: 'number'; value: number}
  | {kind: 'bool'; value: boolean}
  | {kind: 'date'; value: string}
  | {kind: 'empty'}

export const EMPTY: ExportValue = {kind: 'empty'}

/**
 * Writes a value into a streaming-writer cell. Text always becomes an inline string (a rich-text value with one
 * run, which exceljs renders as `t="inlineStr"`): never a formula, whatever it starts with (`=`, `+`, `-`, `@`,
 * tab), and no shared-strings table that would grow with the export. Numbers stay numbers, NaN is left empty and
 * infinities become their text (a cell cannot hold them). Dates are serial numbers with a visible date format.
 */
export function writeCell(cell: ExcelJS.Cell, value: ExportValue): void {
  switch (value.kind) {
    case 'empty':
      return
    case 'text':
      if (value.value !== '') cell.value = {richText: [{text: escapeExcelString(value.value)}]}
      return
    case 'bool':
      cell.value = value.value
      return
    case 'number':
      if (Number.isNaN(value.value)) return
      if (!Number.isFinite(value.value)) cell.value = {richText: [{text: value.value > 0 ? 'inf' : '-inf'}]}
      else cell.value = value.value
      return
    case 'date': {
      const serial = naiveToExcelSerial(value.value)
      if (serial === null) {
        cell.value = {richText: [{text: escapeExcelString(value.value)}]}
        return
      }
      cell.value = serial
      cell.numFmt = DATE_FORMAT
      return
    }
  }
}
