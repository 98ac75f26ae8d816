import type {TableName} from '../db/schema.js'
import {
  AUDIO_FIELDS,
  BIOMECHANICS_FIELDS,
  CYCLE_FIELDS,
  CYCLE_SUMMARY_FIELDS,
  type FieldMap,
  KNEE_MANEUVER_FIELDS,
  KNEE_SUMMARY_FIELDS,
  type LogKind,
  SUMMARY_FIELDS,
  SYNC_CYCLE_SUMMARY_FIELDS,
  SYNC_FIELDS,
} from '../importers/excel/field-maps.js'
import type {LegacyVersion} from './legacy-headers.js'

/** A table whose rows fill a legacy sheet, and the importer's field maps that say which header fills which column. */
export interface SheetSource {
  table: TableName
  fields: readonly FieldMap[]
  /** The log row itself (Summary sheets) rather than rows that belong to the log. */
  isLog?: boolean
}

/**
 * Which tables a legacy sheet was read into, mirroring parse-log.ts: a v4 Synchronization row fed both a
 * synchronization and a cycle-extraction summary, v1-v3 Movement Cycles were summaries, v4 Movement Cycles and
 * v1-v3 Cycle Details were cycles.
 */
export function sheetSources(kind: LogKind, version: LegacyVersion, sheet: string): SheetSource[] {
  const modern = version === 'v4'
  if (kind === 'knee') {
    if (sheet === 'Summary') return [{table: 'knee_logs', fields: KNEE_SUMMARY_FIELDS, isLog: true}]
    if (sheet === 'Maneuver Summaries') return [{table: 'knee_log_maneuvers', fields: KNEE_MANEUVER_FIELDS}]
    return []
  }
  switch (sheet) {
    case 'Summary':
      return [{table: 'processing_logs', fields: SUMMARY_FIELDS, isLog: true}]
    case 'Audio':
      return [{table: 'audio_processing', fields: AUDIO_FIELDS}]
    case 'Biomechanics':
      return [{table: 'biomechanics_imports', fields: BIOMECHANICS_FIELDS}]
    case 'Synchronization':
      return modern
        ? [
            {table: 'synchronizations', fields: SYNC_FIELDS},
            {table: 'cycle_extraction_summaries', fields: SYNC_CYCLE_SUMMARY_FIELDS},
          ]
        : [{table: 'synchronizations', fields: SYNC_FIELDS}]
    case 'Movement Cycles':
      return modern
        ? [{table: 'movement_cycles', fields: CYCLE_FIELDS}]
        : [{table: 'cycle_extraction_summaries', fields: CYCLE_SUMMARY_FIELDS}]
    case 'Cycle Details':
      return [{table: 'movement_cycles', fields: CYCLE_FIELDS}]
    default:
      return []
  }
}

/**
 * The field map inverted for one sheet: header -> typed column, for the headers the sheet has. A field with several
 * header spellings fills only the first spelling present, exactly as the importer reads it.
 */
export function columnsByHeader(
  fields: readonly FieldMap[],
  version: LegacyVersion,
  headers: readonly string[],
): Map<string, FieldMap> {
  const present = new Set(headers)
  const out = new Map<string, FieldMap>()
  for (const field of fields) {
    if (field.versions && !field.versions.includes(version)) continue
    const header = field.headers.find((h) => present.has(h))
    if (header !== undefined && !out.has(header)) out.set(header, field)
  }
  return out
}
