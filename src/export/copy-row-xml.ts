import {COPY_NULL, copyCellEncoder, type SheetColumn} from './table-cells.js'
import {columnLetter} from './xlsx/sheet-xml.js'

/** Where the rows' XML goes: blocks taken from it, filled, and handed back in order. */
export interface BlockOutput {
  takeBlock(): Buffer
  pushBlock(block: Buffer, used: number): boolean
}
/** Room asked for around a cell's copied bytes: the longest fixed markup of a cell, its `r` included. */
const CELL_MARKUP = 96

const TAB = 0x09
const LINE_FEED = 0x0a

/** How a column's COPY field is read on the fast path (anything unusual goes through `copyCellEncoder`). */
const NUMBER = 0
const BOOL = 1
const DATE = 2
const TEXT = 3
const EXTRA = 4
const OTHER = 5

const bytes = (text: string) => Buffer.from(text, 'latin1')
const ROW_OPEN = bytes('<row r="')
const ROW_OPEN_END = bytes('">')
const ROW_CLOSE = bytes('</row>')
const CELL_OPEN = bytes('<c')
const REF_OPEN = bytes(' r="')
const QUOTE = bytes('"')
const NUMBER_OPEN = bytes('><v>')
const VALUE_CLOSE = bytes('</v></c>')
const DATE_OPEN = bytes(' s="2"><v>')
const TEXT_OPEN = bytes(' t="inlineStr"><is><t>')
const TEXT_CLOSE = bytes('</t></is></c>')
const TRUE_CELL = bytes(' t="b"><v>1</v></c>')
const FALSE_CELL = bytes(' t="b"><v>0</v></c>')

/**
 * Lines of `COPY ... TO STDOUT` text (UTF-8 bytes) straight into sheet XML bytes, without a string or an object per
 * row or field: numbers, booleans, timestamps, plain ASCII text and simple `extra` values are copied or computed
 * byte by byte into blocks of the zip writer (`out`). Any other field (escapes, markup, non-ASCII text, NaN, arrays,
 * JSON that is not a plain string or integer, dates the fast path does not read) is decoded and goes through
 * `copyCellEncoder`, the string path, so every cell is the same, byte for byte, as `rowXml` of the same fields.
 */
export class CopyRowXml {
  private buf: Buffer
  private pos = 0
  private gap = true
  private readonly kinds: number[]
  private readonly letters: Buffer[]
  private readonly encoders: Array<(field: string) => string>
  private readonly rowDigits = Buffer.alloc(16)
  private rowLength = 0
  /** Column i's last day (`YYYYMMDD`) and its serial day: a column's timestamps come in runs of the same day. */
  private readonly lastDay: number[]
  private readonly lastDays: number[]

  constructor(
    columns: readonly SheetColumn[],
    private readonly out: BlockOutput,
    private readonly table: string,
  ) {
    this.buf = out.takeBlock()
    this.kinds = columns.map(fastKind)
    this.letters = columns.map((_, i) => bytes(columnLetter(i + 1)))
    this.encoders = columns.map(copyCellEncoder)
    this.lastDay = columns.map(() => -1)
    this.lastDays = columns.map(() => 0)
  }

  /** Every line of `src` (whole lines, each ending in a line feed) as rows from sheet row `firstRow`; how many. */
  rows(src: Buffer, firstRow: number): number {
    let at = 0
    let row = firstRow
    while (at < src.length) {
      const end = src.indexOf(LINE_FEED, at)
      if (end < 0) throw new Error('COPY output ended inside a row')
      this.row(src, at, end, row++)
      at = end + 1
    }
    return row - firstRow
  }

  /** Hands the last, partial block on. */
  flush(): void {
    if (this.pos === 0) return
    this.out.pushBlock(this.buf, this.pos)
    this.buf = this.out.takeBlock()
    this.pos = 0
  }

  private row(src: Buffer, start: number, end: number, row: number): void {
    this.setRowDigits(row)
    this.room(CELL_MARKUP)
    this.put(ROW_OPEN)
    this.putRowDigits()
    this.put(ROW_OPEN_END)
    this.gap = true
    const columns = this.kinds.length
    let at = start
    for (let i = 0; i < columns; i++) {
      if (at > end) this.fieldCountError(src, start, end, row)
      at = this.cell(src, at, end, i) + 1
    }
    if (at !== end + 1) this.fieldCountError(src, start, end, row)
    this.room(ROW_CLOSE.length)
    this.put(ROW_CLOSE)
  }

  private fieldCountError(src: Buffer, start: number, end: number, row: number): never {
    let fields = 1
    for (let k = start; k < end; k++) if (src[k] === TAB) fields++
    throw new Error(`${this.table} row ${row}: COPY gave ${fields} fields, expected ${this.kinds.length}`)
  }

  /**
   * Column i's cell from the field at `start` (ending at the next tab or at `lineEnd`); returns where the field ends.
   * Each fast path reads the field once, writing as it goes, and gives -1, having written nothing, when the field is
   * not for it.
   */
  private cell(src: Buffer, start: number, lineEnd: number, i: number): number {
    if (src[start] === 0x5c && src[start + 1] === 0x4e && endsField(src, start + 2, lineEnd)) {
      this.gap = true
      return start + 2
    }
    // No fast path writes more than its field's bytes and the markup.
    this.room(CELL_MARKUP + lineEnd - start)
    let stop = -1
    switch (this.kinds[i]) {
      case NUMBER:
        stop = this.numberCell(src, start, lineEnd, i)
        break
      case BOOL:
        stop = this.boolCell(src, start, lineEnd, i)
        break
      case DATE:
        stop = this.dateCell(src, start, fieldEnd(src, start, lineEnd), i)
        break
      case TEXT:
        stop = this.textCell(src, start, lineEnd, i, false)
        break
      case EXTRA:
        stop = this.extraCell(src, start, lineEnd, i)
        break
    }
    if (stop >= 0) return stop
    stop = fieldEnd(src, start, lineEnd)
    this.stringCell(src.toString('utf8', start, stop), i)
    return stop
  }

  /** A number as PostgreSQL printed it, unless it is NaN, an infinity or `-0` (the string path's cases). */
  private numberCell(src: Buffer, start: number, lineEnd: number, i: number): number {
    const first = src[start]!
    if (first === 0x2d) {
      const second = src[start + 1]!
      if (!isDigit(second) || (second === 0x30 && endsField(src, start + 2, lineEnd))) return -1
    } else if (!isDigit(first)) return -1
    this.open(i)
    this.put(NUMBER_OPEN)
    const stop = this.copyField(src, start, lineEnd)
    this.put(VALUE_CLOSE)
    return stop
  }

  private boolCell(src: Buffer, start: number, lineEnd: number, i: number): number {
    const stop = fieldEnd(src, start, lineEnd)
    this.open(i)
    this.put(stop - start === 1 && src[start] === 0x74 ? TRUE_CELL : FALSE_CELL)
    return stop
  }

  /**
   * Text the string path would write unchanged, without `xml:space`: printable ASCII without COPY escapes, markup or
   * a `_x` (a possible `_xHHHH_`), not empty, no space at either end. Copied while it is checked; -1, with nothing
   * written, at the first byte that is not plain. `quoted`: a JSON string, which ends at its closing quote.
   */
  private textCell(src: Buffer, start: number, lineEnd: number, i: number, quoted: boolean): number {
    if (src[start] === 0x20 || endsField(src, start, lineEnd)) return -1
    const pos = this.pos
    const gap = this.gap
    this.open(i)
    this.put(TEXT_OPEN)
    const buf = this.buf
    let p = this.pos
    let k = start
    for (; k < lineEnd; k++) {
      const byte = src[k]!
      if (byte === TAB) break
      if (byte < 0x20 || byte > 0x7e || byte === 0x26 || byte === 0x3c || byte === 0x3e || byte === 0x5c)
        break
      if (byte === 0x22 || (byte === 0x5f && src[k + 1] === 0x78)) break
      buf[p++] = byte
    }
    const closed = quoted ? src[k] === 0x22 && endsField(src, k + 1, lineEnd) : endsField(src, k, lineEnd)
    if (!closed || k === start || src[k - 1] === 0x20) {
      this.pos = pos
      this.gap = gap
      return -1
    }
    this.pos = p
    this.put(TEXT_CLOSE)
    return quoted ? k + 1 : k
  }

  /** A jsonb value that is a plain ASCII string (not a date text) or a short integer; -1 for anything else. */
  private extraCell(src: Buffer, start: number, lineEnd: number, i: number): number {
    if (src[start] === 0x22)
      return isDigit(src[start + 1]!) ? -1 : this.textCell(src, start + 1, lineEnd, i, true)
    const stop = fieldEnd(src, start, lineEnd)
    if (!plainInteger(src, start, stop)) return -1
    this.open(i)
    this.put(NUMBER_OPEN)
    this.copyField(src, start, stop)
    this.put(VALUE_CLOSE)
    return stop
  }

  /**
   * `YYYY-MM-DD HH:MM:SS[.ffffff]` from 1900 on as its serial, printed as `naiveToExcelSerialText` prints it: the
   * day, then the day's fraction in 12 decimals without trailing zeros. -1 for any other text.
   */
  private dateCell(src: Buffer, start: number, end: number, i: number): number {
    const micros = timeOfDay(src, start, end)
    if (micros < 0) return -1
    const days = this.dayOf(src, start, i)
    if (days < 0) return -1
    this.open(i)
    this.put(DATE_OPEN)
    this.putInteger(days)
    if (micros > 0) this.putFraction(Math.round((micros * 10_000) / 864))
    this.put(VALUE_CLOSE)
    return end
  }

  /** The serial day of `YYYY-MM-DD` at `start` (a real date from 1900 on), or -1; column i's last one is kept. */
  private dayOf(src: Buffer, start: number, i: number): number {
    const y = digits(src, start, 4)
    const mo = digits(src, start + 5, 2)
    const d = digits(src, start + 8, 2)
    if (y < 1900 || mo < 0 || d < 0 || src[start + 4] !== 0x2d || src[start + 7] !== 0x2d) return -1
    const key = (y * 100 + mo) * 100 + d
    if (key === this.lastDay[i]) return this.lastDays[i]!
    const dayMs = Date.UTC(y, mo - 1, d)
    const check = new Date(dayMs)
    if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return -1
    this.lastDay[i] = key
    this.lastDays[i] = dayMs / 86_400_000 - EXCEL_EPOCH_DAY
    return this.lastDays[i]!
  }

  /** A field the fast path does not take: decoded and encoded as the string path does. */
  private stringCell(field: string, i: number): void {
    const body = field === COPY_NULL ? '' : this.encoders[i]!(field)
    if (body === '') {
      this.gap = true
      return
    }
    this.room(CELL_MARKUP + body.length * 3)
    this.open(i)
    this.pos += this.buf.write(body, this.pos)
  }

  /** Copies the field's bytes up to its end; returns the end. */
  private copyField(src: Buffer, start: number, lineEnd: number): number {
    const buf = this.buf
    let p = this.pos
    let k = start
    for (; k < lineEnd; k++) {
      const byte = src[k]!
      if (byte === TAB) break
      buf[p++] = byte
    }
    this.pos = p
    return k
  }

  /** `<c`, with `r` when the cell before is missing. */
  private open(i: number): void {
    this.put(CELL_OPEN)
    if (this.gap) {
      this.put(REF_OPEN)
      this.put(this.letters[i]!)
      this.putRowDigits()
      this.put(QUOTE)
      this.gap = false
    }
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    if (this.pos > 0) this.out.pushBlock(this.buf, this.pos)
    this.buf = this.out.takeBlock()
    if (this.buf.length < n) this.buf = Buffer.allocUnsafe(n)
    this.pos = 0
  }

  private put(part: Uint8Array): void {
    const buf = this.buf
    let p = this.pos
    for (let k = 0; k < part.length; k++) buf[p++] = part[k]!
    this.pos = p
  }

  private setRowDigits(row: number): void {
    let n = row
    let length = 0
    do {
      length++
      n = Math.floor(n / 10)
    } while (n > 0)
    n = row
    for (let k = length - 1; k >= 0; k--) {
      this.rowDigits[k] = 0x30 + (n % 10)
      n = Math.floor(n / 10)
    }
    this.rowLength = length
  }

  private putRowDigits(): void {
    const buf = this.buf
    let p = this.pos
    for (let k = 0; k < this.rowLength; k++) buf[p++] = this.rowDigits[k]!
    this.pos = p
  }

  /** A non-negative integer below 2^31's decimal digits. */
  private putInteger(value: number): void {
    let length = 1
    for (let n = value; n >= 10; n = (n / 10) | 0) length++
    putDigits(this.buf, this.pos, length, value)
    this.pos += length
  }

  /**
   * `.` and a positive fraction below 10^12 as 12 decimals, trailing zeros dropped (in two halves of six digits, so
   * every step is small-integer arithmetic).
   */
  private putFraction(value: number): void {
    const high = Math.floor(value / 1_000_000)
    const low = value - high * 1_000_000
    const buf = this.buf
    buf[this.pos] = 0x2e
    putDigits(buf, this.pos + 1, 6, high)
    putDigits(buf, this.pos + 7, 6, low)
    let end = this.pos + 13
    while (buf[end - 1] === 0x30) end--
    this.pos = end
  }
}

/** `value` (below 2^31) as `length` digits at `at`, zero-padded. */
function putDigits(buf: Buffer, at: number, length: number, value: number): void {
  let n = value | 0
  for (let k = at + length - 1; k >= at; k--) {
    const rest = (n / 10) | 0
    buf[k] = 0x30 + n - rest * 10
    n = rest
  }
}

const EXCEL_EPOCH_DAY = Date.UTC(1899, 11, 30) / 86_400_000

function fastKind(column: SheetColumn): number {
  switch (column.kind) {
    case 'number':
      return NUMBER
    case 'bool':
      return BOOL
    case 'timestamp':
    case 'timestamptz':
      return DATE
    case 'uuid':
    case 'text':
      return TEXT
    case 'extra':
      return EXTRA
    default:
      return OTHER
  }
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39
}

/** The number of `count` ASCII digits at `at`, or -1. */
function digits(src: Buffer, at: number, count: number): number {
  let n = 0
  for (let k = at; k < at + count; k++) {
    const digit = src[k]! - 0x30
    if (digit < 0 || digit > 9) return -1
    n = n * 10 + digit
  }
  return n
}

/**
 * The microsecond of the day of ` HH:MM:SS[.f{1,6}]` (or `T…`) after the date, with nothing after it; -1 when the
 * field is anything else.
 */
function timeOfDay(src: Buffer, start: number, end: number): number {
  const length = end - start
  if (length < 19 || length > 26 || length === 20) return -1
  const sep = src[start + 10]
  if ((sep !== 0x20 && sep !== 0x54) || src[start + 13] !== 0x3a || src[start + 16] !== 0x3a) return -1
  const h = digits(src, start + 11, 2)
  const mi = digits(src, start + 14, 2)
  const s = digits(src, start + 17, 2)
  if (h < 0 || mi < 0 || s < 0 || h > 23 || mi > 59 || s > 59) return -1
  let fraction = 0
  if (length > 19) {
    if (src[start + 19] !== 0x2e) return -1
    const given = digits(src, start + 20, length - 20)
    if (given < 0) return -1
    fraction = given * 10 ** (26 - length)
  }
  return ((h * 60 + mi) * 60 + s) * 1_000_000 + fraction
}

/** Whether the field ends at `at` (a tab or the line's end). */
function endsField(src: Buffer, at: number, lineEnd: number): boolean {
  return at === lineEnd || src[at] === TAB
}

/** Where the field at `start` ends: the next tab, or the line's end. */
function fieldEnd(src: Buffer, start: number, lineEnd: number): number {
  let k = start
  while (k < lineEnd && src[k] !== TAB) k++
  return k
}

/** `0` or an integer without a leading zero, at most 15 digits (exact as a double, printed back the same). */
function plainInteger(src: Buffer, start: number, end: number): boolean {
  const from = src[start] === 0x2d ? start + 1 : start
  const length = end - from
  if (length < 1 || length > 15) return false
  if (src[from] === 0x30 && (length > 1 || from > start)) return false
  for (let k = from; k < end; k++) if (!isDigit(src[k]!)) return false
  return true
}
