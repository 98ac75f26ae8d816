import {type RawBuilder, sql} from 'kysely'
import type {TableName} from '../db/schema.js'
import type {ExportFilter} from './export-types.js'
import {participantFilter} from './write-legacy-logs.js'

/** The tables the tables layout can export, in sheet order: the knee study top-down, then the media tree. */
export const EXPORTABLE_TABLES = [
  'studies',
  'participants',
  'processing_logs',
  'audio_processing',
  'biomechanics_imports',
  'synchronizations',
  'cycle_extraction_summaries',
  'movement_cycles',
  'knee_logs',
  'knee_log_maneuvers',
  'profiles',
  'recordings',
  'stems',
  'source_audio',
  'processed_hashes',
] as const satisfies readonly TableName[]

export type ExportableTable = (typeof EXPORTABLE_TABLES)[number]

export const MEDIA_TABLES: ReadonlySet<ExportableTable> = new Set([
  'profiles',
  'recordings',
  'stems',
  'source_audio',
  'processed_hashes',
])

/** Columns joined in from the files catalogue, so a stem's sheet shows its file, duration and hash. */
export const JOINED_COLUMNS: Partial<
  Record<ExportableTable, ReadonlyArray<readonly [string, string, string]>>
> = {
  stems: [
    ['file_path', 'f.rel_path', 'text'],
    ['file_sha256', 'f.sha256', 'text'],
    ['file_size_bytes', 'f.size_bytes', 'int8'],
    ['file_duration_s', 'f.duration_s', 'float8'],
    ['file_sample_rate_hz', 'f.sample_rate_hz', 'int4'],
    ['file_present', 'f.present', 'bool'],
  ],
  recordings: [
    ['source_sha256', 'a.sha256', 'text'],
    ['source_duration_s', 'a.duration_s', 'float8'],
  ],
}

const LOG_PATH = sql`join participants p on p.id = l.participant_id join studies s on s.id = p.study_id`
const PROFILE_ORDER = sql`pr.name`

/**
 * `from … where … order by …` of one table for the filter: knee tables reach participants and studies through
 * their log, media tables their profile. The order is the one a reader expects (study, participant, knee,
 * maneuver, source row), not the random order of uuid keys.
 */
export interface TableQuery {
  /** `from … where …` */
  from: RawBuilder<unknown>
  /** The `order by` list. */
  order: RawBuilder<unknown>
  /**
   * For rows that belong to a processing log (`t.processing_log_id`, `l` the log): `order` is the logs' order
   * (`LOG_ORDER`, which names one log) then this, the order of one log's rows.
   */
  withinLog?: RawBuilder<unknown>
}

/** The order of processing logs: study, participant, knee, maneuver (unique, so it names one log). */
export const LOG_ORDER = sql`s.name, p.participant_number, l.knee, l.maneuver`

export function tableQuery(table: ExportableTable, filter: ExportFilter): TableQuery {
  const who = participantFilter(filter)
  const profiles = filter.profiles.length > 0 ? sql`pr.name in (${sql.join(filter.profiles)})` : sql`true`
  switch (table) {
    case 'studies':
      return {
        from: sql`from studies t join studies s on s.id = t.id where ${
          filter.studies.length > 0 ? sql`t.name in (${sql.join(filter.studies)})` : sql`true`
        } and ${
          filter.participants.length > 0
            ? sql`exists (select 1 from participants p where p.study_id = t.id and p.participant_number in (${sql.join(filter.participants)}))`
            : sql`true`
        }`,
        order: sql`t.name`,
      }
    case 'participants':
      return {
        from: sql`from participants t join participants p on p.id = t.id join studies s on s.id = t.study_id
        where ${who}`,
        order: sql`s.name, t.participant_number`,
      }
    case 'processing_logs':
    case 'knee_logs':
      return {
        from: sql`from ${sql.table(table)} t join ${sql.table(table)} l on l.id = t.id ${LOG_PATH}
        where ${who}`,
        order: sql`s.name, p.participant_number, t.knee${table === 'processing_logs' ? sql`, t.maneuver` : sql``}`,
      }
    case 'knee_log_maneuvers':
      return {
        from: sql`from knee_log_maneuvers t join knee_logs l on l.id = t.knee_log_id ${LOG_PATH}
        where ${who}`,
        order: sql`s.name, p.participant_number, l.knee, t.source_row, t.id`,
      }
    case 'profiles':
      return {
        from: sql`from profiles t join profiles pr on pr.id = t.id where ${profiles}`,
        order: sql`t.name`,
      }
    case 'recordings':
      return {
        from: sql`from recordings t join profiles pr on pr.id = t.profile_id
        left join source_audio a on a.id = t.source_audio_id
        where ${profiles}`,
        order: sql`${PROFILE_ORDER}, t.folder_name`,
      }
    case 'stems':
      return {
        from: sql`from stems t join recordings r on r.id = t.recording_id join profiles pr on pr.id = r.profile_id
        left join files f on f.id = t.file_id
        where ${profiles}`,
        order: sql`${PROFILE_ORDER}, r.folder_name, t.stem_type`,
      }
    case 'processed_hashes':
      return {
        from: sql`from processed_hashes t join profiles pr on pr.id = t.profile_id
        where ${profiles}`,
        order: sql`${PROFILE_ORDER}, t.folder_name, t.sha256`,
      }
    case 'source_audio':
      return {
        from: sql`from source_audio t where exists (select 1 from recordings r join profiles pr on pr.id = r.profile_id
        where r.source_audio_id = t.id and ${profiles})`,
        order: sql`t.sha256`,
      }
    default:
      return {
        from: sql`from ${sql.table(table)} t join processing_logs l on l.id = t.processing_log_id ${LOG_PATH}
        where ${who}`,
        order: sql`${LOG_ORDER}, t.source_sheet, t.source_row, t.id`,
        withinLog: sql`t.source_sheet, t.source_row, t.id`,
      }
  }
}
