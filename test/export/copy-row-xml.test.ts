import {describe, expect, it} from 'vitest'
import {CopyRowXml} from '../../src/export/copy-row-xml.js'
import {COPY_NULL, copyCellEncoder, copyLines, type SheetColumn} from '../../src/export/table-cells.js'
import {columnLetter, rowXml} from '../../src/export/xlsx/sheet-xml.js'

const KINDS = ['uuid', 'text', 'number', 'bool', 'timestamp', 'timestamptz', 'array', 'extra'] as const
const COLUMNS: SheetColumn[] = KINDS.map((kind) => ({header: kind, kind, alias: kind}))

/** Fields of each kind, as COPY text prints them: the usual ones and every odd case the string path handles. */
const FIELDS: Record<(typeof KINDS)[number], string[]> = {
  uuid: ['00000000-0000-5000-8002-000000000004', 'ff55ce34-5649-4efd-852d-9a9c1dc41a1b'],
  text: [
    'Left_walk_pass4_cycle_003.pkl',
    'Movement Cycles',
    'a',
    '',
    ' lead',
    'trail ',
    '  ',
    'a&b<c>d"e',
    '=HYPERLINK("http://x","y")',
    '+1+1',
    '-2+3',
    '@SUM(A1)',
    '\\tlead tab',
    'line\\nfeed',
    'cr\\r',
    'back\\\\slash',
    '_x0041_',
    'x_x',
    'tail_',
    'caf\u00e9',
    'emoji \u{1F3B5}',
    '\u0001ctl',
    '\u007f',
    'nbsp\u00a0',
    '\\N',
    '\\\\N',
  ],
  number: [
    '0',
    '1',
    '-5',
    '-0',
    '-0.5',
    '1.5',
    '5003.75',
    '1e-05',
    '-1.5e+300',
    'NaN',
    'Infinity',
    '-Infinity',
    '42',
  ],
  bool: ['t', 'f'],
  timestamp: [
    '2026-01-29 01:46:30.190255',
    '2026-01-29 01:46:30.19',
    '2026-01-29 01:46:30.1',
    '2026-01-29 00:00:00',
    '2026-01-29 12:00:00',
    '2026-12-31 23:59:59.999999',
    '2024-02-29 06:00:00',
    '2026-02-30 01:00:00',
    '2026-01-29 24:00:00',
    '2026-01-29 01:60:00',
    '1900-01-01 00:00:01',
    '1899-12-29 12:00:00',
    '0050-01-01 10:00:00',
    '2000-01-01 00:00:00 BC',
    '10000-01-01 00:00:00',
    'infinity',
    '-infinity',
    '2026-01-29T01:46:30',
    '2026-01-29 01:46:30.',
    '2026-01-29 01:46:30.1234567',
  ],
  timestamptz: ['2026-12-06 13:03:49.242734', '2026-12-06 13:03:49', '1970-01-01 00:00:00.000001'],
  array: ['{1,2.5,NaN}', '{}', '{-0,1e-07,Infinity}'],
  extra: [
    '"AOA"',
    '"medium"',
    '""',
    '" x"',
    '"x "',
    '"2026-01-29 01:46:30"',
    '"2026-01-29"',
    '"12 apples"',
    '"a\\\\"b"',
    '"tab\\\\tin"',
    '"caf\u00e9"',
    '"_x0041_"',
    '"=1+1"',
    '4',
    '0',
    '-7',
    '-0',
    '1.0',
    '1.5',
    '1e5',
    '123456789012345',
    '1234567890123456789',
    'true',
    'false',
    'null',
    '{"a": 1}',
    '[1, "x"]',
  ],
}

/** The string path: the line split into fields, each through `copyCellEncoder`, joined by `rowXml`. */
function stringPath(lines: string[], firstRow: number): string {
  const encoders = COLUMNS.map(copyCellEncoder)
  const letters = COLUMNS.map((_, i) => columnLetter(i + 1))
  return lines
    .map((line, r) => {
      const fields = line.split('\t')
      return rowXml(firstRow + r, letters, (i) => (fields[i] === COPY_NULL ? '' : encoders[i]!(fields[i]!)))
    })
    .join('')
}

/** The byte path over `chunks` of whole lines, with small blocks so that rows cross block boundaries. */
function bytePath(chunks: Buffer[], firstRow: number, blockBytes = 700): string {
  const out: Buffer[] = []
  const rows = new CopyRowXml(
    COLUMNS,
    {
      takeBlock: () => Buffer.alloc(blockBytes),
      pushBlock: (block, used) => {
        out.push(Buffer.from(block.subarray(0, used)))
        return false
      },
    },
    'cycles',
  )
  let row = firstRow
  for (const chunk of chunks) row += rows.rows(chunk, row)
  rows.flush()
  return Buffer.concat(out).toString('utf8')
}

/** Rows that put every field of every kind in its column (NULL, `\N`, in between), the rest cycling. */
function sampleLines(): string[] {
  const longest = Math.max(...Object.values(FIELDS).map((f) => f.length))
  const lines: string[] = []
  for (let r = 0; r < longest * 3; r++)
    lines.push(
      KINDS.map((kind, i) => {
        const fields = FIELDS[kind]
        return (r + i) % 5 === 4 ? COPY_NULL : fields[r % fields.length]!
      }).join('\t'),
    )
  return lines
}

describe('CopyRowXml', () => {
  it('writes the same XML, byte for byte, as the string path for every kind and odd case of field', () => {
    const lines = sampleLines()
    const text = Buffer.from(`${lines.join('\n')}\n`, 'utf8')
    const expected = stringPath(lines, 2)
    expect(expected).toContain('<c r="A2" t="inlineStr"><is><t>00000000-0000-5000-8002-000000000004</t>')
    expect(bytePath([text], 2)).toBe(expected)
    // Another first row (more digits in every `r`), one big block.
    expect(bytePath([text], 999_998, 1 << 20)).toBe(stringPath(lines, 999_998))
  })

  it('gives the same rows whatever chunks the COPY text comes in', async () => {
    const lines = sampleLines()
    const text = Buffer.from(`${lines.join('\n')}\n`, 'utf8')
    const pieces: Buffer[] = []
    for (let at = 0, size = 1; at < text.length; at += size, size = ((size * 7) % 61) + 1)
      pieces.push(text.subarray(at, at + size))
    const chunks: Buffer[] = []
    for await (const chunk of copyLines(pieces)) chunks.push(chunk)
    expect(chunks.length).toBeGreaterThan(lines.length / 2)
    expect(Buffer.concat(chunks).equals(text)).toBe(true)
    expect(bytePath(chunks, 2)).toBe(stringPath(lines, 2))
  })

  it('refuses a line with too few or too many fields, naming the table and row', () => {
    const line = sampleLines()[0]!
    const fewer = line.split('\t').slice(0, -1).join('\t')
    expect(() => bytePath([Buffer.from(`${line}\n${fewer}\n`)], 2)).toThrow(
      `cycles row 3: COPY gave ${KINDS.length - 1} fields, expected ${KINDS.length}`,
    )
    expect(() => bytePath([Buffer.from(`${line}\tmore\n`)], 2)).toThrow(
      `cycles row 2: COPY gave ${KINDS.length + 1} fields, expected ${KINDS.length}`,
    )
    expect(() => bytePath([Buffer.from('\n')], 2)).toThrow('cycles row 2: COPY gave 1 fields')
  })
})
