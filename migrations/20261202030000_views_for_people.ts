import {type Kysely, sql} from 'kysely'

// Frozen in time: this file must never import from src/.
// Views named in plain words, so the questions a lab asks are one-table queries without UUID joins
// (`select * from syncs where participant = 1013 and knee = 'left' and maneuver = 'walk' and status = 'error'`),
// and run_messages: the rejections and warnings of a finished run, so `aedb runs show` can read them back later.

// A file's full path: the import root it was found under joined with its path inside that root.
const FILE_PATH = (root: string, file: string) =>
  `case when ${file}.id is null then null else rtrim(${root}.path, '/') || '/' || ${file}.rel_path end`

// Who a processing log belongs to, for every view below a processing log.
const LOG_OWNER = `
  join participants p on p.id = pl.participant_id
  join studies st on st.id = p.study_id
  left join files lf on lf.id = pl.source_file_id
  left join import_roots lr on lr.id = lf.root_id`

const UP: string[] = [
  `create table run_messages (
  id uuid primary key default gen_random_uuid(),
  run_id uuid not null references runs (id) on delete cascade,
  position integer not null check (position >= 0),
  kind text not null check (kind in ('rejected', 'warning')),
  file text not null,
  sheet text,
  row integer,
  "column" text,
  code text not null,
  message text not null,
  unique (run_id, position)
)`,

  `create view logs as
select
  st.name as study,
  p.participant_number as participant,
  pl.knee,
  pl.maneuver,
  pl.format_version,
  pl.log_created,
  pl.log_updated,
  pl.audio_processed,
  pl.biomechanics_imported,
  pl.num_synced_files,
  pl.num_movement_cycles,
  (select count(*) from synchronizations s where s.processing_log_id = pl.id)::integer as syncs,
  (select count(*) from synchronizations s where s.processing_log_id = pl.id and s.status = 'error')::integer as failed_syncs,
  ${FILE_PATH('lr', 'lf')} as log_file,
  pl.id as processing_log_id
from processing_logs pl${LOG_OWNER}`,

  `create view syncs as
select
  st.name as study,
  p.participant_number as participant,
  pl.knee,
  pl.maneuver,
  s.sync_file,
  s.speed,
  s.pass_number as pass,
  s.status,
  s.error,
  coalesce(ces.clean_cycles,
    (select count(*) from movement_cycles m where m.synchronization_id = s.id and not m.is_outlier)::integer) as clean_cycles,
  coalesce(ces.outlier_cycles,
    (select count(*) from movement_cycles m where m.synchronization_id = s.id and m.is_outlier)::integer) as outlier_cycles,
  s.duration_s,
  s.sync_method,
  s.audio_sync_time_s,
  s.sync_offset_s,
  s.processing_date,
  ${FILE_PATH('lr', 'lf')} as log_file,
  s.source_sheet as log_sheet,
  s.source_row as log_row,
  s.id as synchronization_id,
  pl.id as processing_log_id
from synchronizations s
join processing_logs pl on pl.id = s.processing_log_id${LOG_OWNER}
left join lateral (
  select c.clean_cycles, c.outlier_cycles from cycle_extraction_summaries c
  where c.synchronization_id = s.id order by c.processing_date desc nulls last limit 1
) ces on true`,

  `create view cycles as
select
  st.name as study,
  p.participant_number as participant,
  pl.knee,
  pl.maneuver,
  m.sync_file,
  s.speed,
  s.pass_number as pass,
  m.cycle_index,
  m.is_outlier as outlier,
  m.start_s,
  m.end_s,
  m.duration_s,
  m.acoustic_auc,
  m.ch1_rms,
  m.ch2_rms,
  m.ch3_rms,
  m.ch4_rms,
  m.cycle_file,
  ${FILE_PATH('lr', 'lf')} as log_file,
  m.source_sheet as log_sheet,
  m.source_row as log_row,
  m.id as movement_cycle_id,
  m.synchronization_id
from movement_cycles m
join processing_logs pl on pl.id = m.processing_log_id${LOG_OWNER}
left join synchronizations s on s.id = m.synchronization_id`,

  `create view stem_files as
select
  pr.name as profile,
  r.display_name as recording,
  r.folder_name as folder,
  sm.stem_type,
  ${FILE_PATH('fr', 'f')} as path,
  f.present,
  f.size_bytes,
  f.duration_s,
  f.codec,
  f.sample_rate_hz,
  f.channels,
  sm.measured_lufs as lufs,
  sm.target_lufs,
  sm.peak_amplitude,
  f.sha256,
  sm.id as stem_id,
  r.id as recording_id
from stems sm
join recordings r on r.id = sm.recording_id
join profiles pr on pr.id = r.profile_id
left join files f on f.id = sm.file_id
left join import_roots fr on fr.id = f.root_id`,

  `create view recording_sources as
select
  pr.name as profile,
  r.display_name as recording,
  r.folder_name as folder,
  r.metadata_layout,
  r.source_link as linked_by,
  sa.sha256 as source_sha256,
  sa.size_bytes as source_size_bytes,
  sa.duration_s as source_duration_s,
  sa.sample_rate_hz as source_sample_rate_hz,
  sa.channels as source_channels,
  sa.codec as source_codec,
  copies.path as source_path,
  coalesce(copies.copies, 0)::integer as source_copies,
  r.id as recording_id
from recordings r
join profiles pr on pr.id = r.profile_id
left join source_audio sa on sa.id = r.source_audio_id
left join lateral (
  select min(rtrim(ir.path, '/') || '/' || f.rel_path) as path, count(*) as copies
  from files f join import_roots ir on ir.id = f.root_id
  where f.sha256 = sa.sha256 and f.present
) copies on true`,

  `create view file_status as
select
  ${FILE_PATH('r', 'f')} as path,
  f.kind,
  f.present,
  f.size_bytes,
  f.mtime,
  f.sha256,
  f.hashed_at,
  f.duration_s,
  f.codec,
  f.probe_error,
  r.path as import_root,
  f.rel_path,
  f.id as file_id
from files f
join import_roots r on r.id = f.root_id`,
]

const DOWN: string[] = [
  'drop view if exists file_status',
  'drop view if exists recording_sources',
  'drop view if exists stem_files',
  'drop view if exists cycles',
  'drop view if exists syncs',
  'drop view if exists logs',
  'drop table if exists run_messages',
]

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time and must not depend on today's types.
export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db)
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db)
}
