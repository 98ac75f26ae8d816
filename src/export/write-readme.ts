import type {ExportFilter} from './export-types.js'
import type {ExportableTable} from './table-queries.js'
import type {SheetColumn} from './write-tables-workbook.js'
import {columnLetter, sheetHead, sheetTail, textCellXml} from './xlsx/sheet-xml.js'
import {STYLE} from './xlsx/xlsx-stream-writer.js'

export const README_SHEET = 'README'

export interface ReadmeProps {
  /** The database (redacted) and the aedb version that wrote the export. */
  source: {database: string; aedbVersion: string}
  filter: ExportFilter
  sheets: Array<{table: ExportableTable; rows: number; columns: SheetColumn[]}>
  /** When the export was written (defaults to now). */
  at?: Date
}

const TABLE_MEANING: Record<ExportableTable, string> = {
  studies: 'One row per study (AOA, preOA, SMoCK).',
  participants: 'One row per participant of a study (participant_number is the number of the #1011 folder).',
  processing_logs:
    'One row per maneuver processing log (participant x knee x maneuver): the Summary sheet of the legacy log.',
  audio_processing: 'Audio processing record of a log (legacy sheet Audio).',
  biomechanics_imports: 'Biomechanics import record of a log (legacy sheet Biomechanics).',
  synchronizations: 'One row per synchronisation file of a log (legacy sheet Synchronization).',
  cycle_extraction_summaries:
    'Cycle extraction summary per synchronisation (v1-v3 Movement Cycles, v4 sync rows).',
  movement_cycles: 'One row per movement cycle (v1-v3 Cycle Details, v4 Movement Cycles).',
  knee_logs: 'One row per knee processing log (participant x knee).',
  knee_log_maneuvers: 'One row per maneuver of a knee log (legacy sheet Maneuver Summaries).',
  profiles: 'Stem-separation profiles (config.yaml and media/<profile>/).',
  recordings: 'One row per output folder of a profile (media/<profile>/<recording>/), with its source audio.',
  stems: 'One row per stem of a recording, with its file, duration and SHA-256.',
  source_audio: 'Source audio contents by SHA-256 (identical bytes under two names are one row).',
  processed_hashes: 'Entries of a profile’s .processed_hashes.json.',
}

const KIND_MEANING: Record<SheetColumn['kind'], string> = {
  uuid: 'id (text)',
  text: 'text',
  number: 'number',
  bool: 'TRUE/FALSE',
  timestamp: 'date and time as recorded (wall clock, no time zone)',
  timestamptz: 'date and time in UTC',
  array: 'list of numbers, flattened (start, end) pairs in seconds',
  extra: 'kept verbatim from the legacy file (column named as in the legacy file)',
}

/**
 * The README sheet's XML: where the export came from, the filter, then one line per sheet and per column with its
 * meaning and unit (units are in the column names: `_s` seconds, `_hz` hertz, `_mb` megabytes, `_db` decibels).
 * Titles and the first column of each block are bold. It is the tab selected when the workbook opens.
 */
export function readmeSheetXml(props: ReadmeProps): string {
  const lines = readmeLines(props)
  const rows = lines.map((line, i) => {
    const cells = line.map((text, c) => {
      const bold = i === 0 || line[0] === 'Sheet' || (line[0] !== '' && c === 0)
      return textCellXml(`${columnLetter(c + 1)}${i + 1}`, text, bold ? STYLE.bold : STYLE.plain)
    })
    return `<row r="${i + 1}">${cells.join('')}</row>`
  })
  return sheetHead({widths: [28, 34, 24, 90], selected: true}) + rows.join('') + sheetTail()
}

function readmeLines(props: ReadmeProps): string[][] {
  const lines: string[][] = [
    ['aedb export', 'tables layout'],
    [
      'Written at (UTC)',
      (props.at ?? new Date())
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ''),
    ],
    ['aedb version', props.source.aedbVersion],
    ['Database', props.source.database],
    ['Filter: studies', props.filter.studies.join(', ') || '(all)'],
    ['Filter: participants', props.filter.participants.join(', ') || '(all)'],
    ['Filter: profiles', props.filter.profiles.join(', ') || '(all)'],
    [
      'Conventions',
      'Dates are real Excel dates (format YYYY-MM-DD HH:MM:SS). Empty cells are NULL. Columns after the typed ones hold the legacy values aedb kept verbatim, headed with their legacy names. Units are in column names: _s seconds, _hz hertz, _mb megabytes, _db decibels, _lufs LUFS.',
    ],
    [],
    ['Sheet', 'Column', 'Type', 'Meaning'],
  ]
  for (const sheet of props.sheets) {
    lines.push([sheet.table, `${sheet.rows} rows`, '', TABLE_MEANING[sheet.table]])
    for (const column of sheet.columns)
      lines.push([
        '',
        column.header,
        column.kind === 'extra' ? 'legacy' : column.kind,
        KIND_MEANING[column.kind] + (column.allowed ? `; one of ${column.allowed.join(', ')}` : ''),
      ])
  }
  return lines
}
