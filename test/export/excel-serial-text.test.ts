import {describe, expect, it} from 'vitest'
import {naiveToExcelSerial, naiveToExcelSerialText} from '../../src/export/excel-cell.js'

/** The microsecond of the day a reader gets back from a serial: its fraction of a day, rounded. */
function microsOfSerial(serial: number): number {
  return Math.round((serial - Math.floor(serial)) * 86_400_000_000)
}

describe('naiveToExcelSerialText', () => {
  it('reads back as the same microsecond as the text, for 200,000 timestamps over two years', () => {
    const start = Date.UTC(2025, 0, 1)
    for (let i = 0; i < 200_000; i++) {
      const ms = start + ((i * 7_919_993_117) % (86_400_000 * 730))
      const micros = (i * 7919) % 1000
      const iso = new Date(ms).toISOString()
      const text = `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(micros).padStart(3, '0')}`
      const serial = Number(naiveToExcelSerialText(text))
      expect(Math.floor(serial), text).toBe(Math.floor(naiveToExcelSerial(text)!))
      expect(microsOfSerial(serial), text).toBe((ms % 86_400_000) * 1000 + micros)
    }
  })

  it('prints whole days and exact fractions short, and refuses what is no timestamp', () => {
    expect(naiveToExcelSerialText('2026-01-29')).toBe('46051')
    expect(naiveToExcelSerialText('2026-01-29 00:00:00')).toBe('46051')
    expect(naiveToExcelSerialText('2026-01-29 12:00:00')).toBe('46051.5')
    expect(naiveToExcelSerialText('2026-01-29 06:00:00.000000')).toBe('46051.25')
    expect(naiveToExcelSerialText('1899-12-29 12:00:00')).toBe('-0.5')
    expect(naiveToExcelSerialText('2026-02-30 01:00:00')).toBeNull()
    expect(naiveToExcelSerialText('2026-01-29 24:00:00')).toBeNull()
    expect(naiveToExcelSerialText('n/a')).toBeNull()
  })
})
