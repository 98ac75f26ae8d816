import {type Kysely, sql} from 'kysely'

// Frozen in time: this file must never import from src/. Later changes go in new migrations.

const PROVENANCE = `
  source_file_id uuid references files (id) on delete restrict,
  source_sheet text,
  source_row integer check (source_row is null or source_row >= 1),
  source_path text,
  content_hash text not null check (content_hash ~ '^[0-9a-f]{64}$'),
  run_id uuid references runs (id) on delete set null,
  extra jsonb not null default '{}'::jsonb check (jsonb_typeof(extra) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()`

const STATUS = `text check (%s in ('not_processed', 'success', 'error'))`
const KNEE = `text check (%s in ('left', 'right'))`
const MANEUVER = `text check (%s in ('walk', 'sts', 'fe'))`
const SPEED = `text check (%s in ('slow', 'medium', 'fast', 'comfortable'))`
const MIC = `text check (%s in ('IPM', 'IPL', 'SPM', 'SPL'))`

function typed(template: string, column: string): string {
  return `${column} ${template.replace('%s', column)}`
}

function perChannel(base: string, type: string): string {
  return [base, ...[1, 2, 3, 4].map((n) => `${base}_ch${n}`)].map((c) => `${c} ${type}`).join(',\n  ')
}

const IMPORTED_TABLES = [
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
  'processed_hashes',
]

const AUDITED_TABLES = [
  'import_roots',
  'files',
  'source_audio',
  'studies',
  'participants',
  'source_imports',
  ...IMPORTED_TABLES,
]

const UP: string[] = [
  `create table runs (
  id uuid primary key default gen_random_uuid(),
  command text not null check (command in ('init', 'migrate', 'backfill-excel', 'import-json', 'export-excel', 'verify')),
  arguments jsonb not null default '[]'::jsonb,
  aedb_version text not null,
  hostname text,
  pid integer,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  outcome text not null default 'running' check (outcome in ('running', 'succeeded', 'problems', 'failed')),
  counts jsonb not null default '{}'::jsonb,
  check ((outcome = 'running') = (finished_at is null))
)`,
  `create index runs_command_started_idx on runs (command, started_at desc)`,

  `create table import_roots (
  id uuid primary key,
  path text not null unique,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
)`,

  `create table files (
  id uuid primary key,
  root_id uuid not null references import_roots (id) on delete cascade,
  rel_path text not null check (rel_path <> '' and rel_path !~ '^/'),
  kind text not null check (kind in ('workbook', 'metadata_json', 'config', 'hash_index', 'audio', 'raw_audio', 'pickle', 'directory', 'waveform', 'spreadsheet', 'other')),
  present boolean not null,
  size_bytes bigint check (size_bytes is null or size_bytes >= 0),
  mtime timestamptz,
  sha256 text check (sha256 ~ '^[0-9a-f]{64}$'),
  hashed_at timestamptz,
  duration_s double precision,
  sample_rate_hz integer,
  channels integer,
  codec text,
  probe_error text,
  run_id uuid references runs (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (root_id, rel_path),
  check (present or sha256 is null)
)`,
  `create index files_sha256_idx on files (sha256)`,
  `create index files_present_idx on files (present, kind)`,

  `create table source_imports (
  id uuid primary key,
  file_id uuid not null references files (id) on delete cascade,
  importer text not null check (importer in ('excel', 'json')),
  parser_version text not null,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  run_id uuid references runs (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (file_id, importer, parser_version, sha256)
)`,

  `create table studies (
  id uuid primary key,
  name text not null unique check (name in ('AOA', 'preOA', 'SMoCK')),
  run_id uuid references runs (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
)`,

  `create table participants (
  id uuid primary key,
  study_id uuid not null references studies (id) on delete cascade,
  participant_number integer not null check (participant_number > 0),
  run_id uuid references runs (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (study_id, participant_number)
)`,

  `create table processing_logs (
  id uuid primary key,
  participant_id uuid not null references participants (id) on delete cascade,
  ${typed(KNEE, 'knee')} not null,
  ${typed(MANEUVER, 'maneuver')} not null,
  format_version text not null check (format_version in ('v1', 'v2', 'v3', 'v4', 'v5')),
  legacy_study_id text,
  maneuver_directory text,
  log_created timestamp,
  log_updated timestamp,
  audio_processed boolean,
  biomechanics_imported boolean,
  num_synced_files integer,
  num_movement_cycles integer,
  ${PROVENANCE},
  unique (participant_id, knee, maneuver)
)`,

  `create table audio_processing (
  id uuid primary key,
  processing_log_id uuid not null references processing_logs (id) on delete cascade,
  audio_file text,
  bin_file text,
  pickle_file text,
  processing_date timestamp,
  ${typed(STATUS, 'status')},
  error text,
  sample_rate_hz double precision,
  channels integer,
  duration_s double precision,
  file_size_mb double precision,
  device_serial text,
  firmware_version integer,
  file_time timestamp,
  recording_date timestamp,
  recording_time timestamp,
  ch1_rms double precision, ch2_rms double precision, ch3_rms double precision, ch4_rms double precision,
  ch1_peak double precision, ch2_peak double precision, ch3_peak double precision, ch4_peak double precision,
  has_inst_freq boolean,
  qc_version integer,
  ${typed(MIC, 'mic_1_position')}, ${typed(MIC, 'mic_2_position')}, ${typed(MIC, 'mic_3_position')}, ${typed(MIC, 'mic_4_position')},
  mic_1_notes text, mic_2_notes text, mic_3_notes text, mic_4_notes text,
  notes text,
  linked_biomechanics boolean,
  qc_fail boolean, qc_fail_ch1 boolean, qc_fail_ch2 boolean, qc_fail_ch3 boolean, qc_fail_ch4 boolean,
  ${perChannel('qc_fail_segments', 'double precision[]')},
  ${perChannel('qc_signal_dropout', 'boolean')},
  ${perChannel('qc_signal_dropout_segments', 'double precision[]')},
  ${perChannel('qc_artifact', 'boolean')},
  ${perChannel('qc_artifact_type', 'text')},
  ${perChannel('qc_artifact_segments', 'double precision[]')},
  ${PROVENANCE},
  unique nulls not distinct (processing_log_id, audio_file)
)`,

  `create table biomechanics_imports (
  id uuid primary key,
  processing_log_id uuid not null references processing_logs (id) on delete cascade,
  biomechanics_file text,
  sheet_name text,
  processing_date timestamp,
  ${typed(STATUS, 'status')},
  error text,
  num_sub_recordings integer,
  num_passes integer,
  duration_s double precision,
  num_data_points integer,
  sample_rate_hz double precision,
  start_time_s double precision,
  end_time_s double precision,
  qc_version integer,
  ${PROVENANCE},
  unique nulls not distinct (processing_log_id, biomechanics_file, sheet_name)
)`,

  `create table synchronizations (
  id uuid primary key,
  processing_log_id uuid not null references processing_logs (id) on delete cascade,
  sync_file text,
  pass_number integer check (pass_number is null or pass_number >= 0),
  ${typed(SPEED, 'speed')},
  ${typed(KNEE, 'knee')},
  processing_date timestamp,
  ${typed(STATUS, 'status')},
  error text,
  audio_sync_time_s double precision,
  bio_left_sync_time_s double precision,
  bio_right_sync_time_s double precision,
  sync_offset_s double precision,
  aligned_audio_sync_time_s double precision,
  aligned_bio_sync_time_s double precision,
  num_samples integer,
  duration_s double precision,
  sync_qc_done boolean,
  sync_qc_passed boolean,
  audio_qc_version integer,
  biomech_qc_version integer,
  cycle_qc_version integer,
  sync_method text check (sync_method in ('audio', 'consensus', 'biomechanics')),
  consensus_time_s double precision,
  consensus_methods text,
  rms_time_s double precision,
  onset_time_s double precision,
  freq_time_s double precision,
  rms_energy double precision,
  onset_magnitude double precision,
  freq_energy double precision,
  method_agreement_span_s double precision,
  detection_method text,
  selected_time_s double precision,
  contra_selected_time_s double precision,
  audio_visual_sync_time_s double precision,
  audio_visual_sync_time_contra_s double precision,
  record_type text,
  ${PROVENANCE},
  unique nulls not distinct (processing_log_id, sync_file)
)`,
  `create index synchronizations_pass_idx on synchronizations (processing_log_id, pass_number, speed)`,

  `create table cycle_extraction_summaries (
  id uuid primary key,
  processing_log_id uuid not null references processing_logs (id) on delete cascade,
  synchronization_id uuid references synchronizations (id) on delete set null,
  sync_file text,
  pass_number integer check (pass_number is null or pass_number >= 0),
  ${typed(SPEED, 'speed')},
  ${typed(KNEE, 'knee')},
  processing_date timestamp,
  ${typed(STATUS, 'status')},
  error text,
  total_cycles integer check (total_cycles is null or total_cycles >= 0),
  clean_cycles integer check (clean_cycles is null or clean_cycles >= 0),
  outlier_cycles integer check (outlier_cycles is null or outlier_cycles >= 0),
  acoustic_threshold double precision,
  output_directory text,
  plots_created boolean,
  mean_duration_s double precision,
  median_duration_s double precision,
  min_duration_s double precision,
  max_duration_s double precision,
  mean_acoustic_auc double precision,
  qc_version integer,
  ${PROVENANCE},
  unique nulls not distinct (processing_log_id, sync_file)
)`,
  `create index cycle_extraction_summaries_sync_idx on cycle_extraction_summaries (synchronization_id)`,

  `create table movement_cycles (
  id uuid primary key,
  processing_log_id uuid not null references processing_logs (id) on delete cascade,
  synchronization_id uuid references synchronizations (id) on delete set null,
  sync_file text,
  cycle_index integer not null check (cycle_index >= 0),
  is_outlier boolean not null,
  cycle_file text,
  start_s double precision,
  end_s double precision,
  duration_s double precision,
  acoustic_auc double precision,
  ch1_rms double precision, ch2_rms double precision, ch3_rms double precision, ch4_rms double precision,
  audio_start_time timestamp,
  audio_end_time timestamp,
  bio_start_time timestamp,
  bio_end_time timestamp,
  biomechanics_qc_fail boolean,
  sync_qc_fail boolean,
  biomechanics_qc_version integer,
  sync_qc_version integer,
  ${PROVENANCE},
  unique nulls not distinct (processing_log_id, sync_file, is_outlier, cycle_index)
)`,
  `create index movement_cycles_sync_idx on movement_cycles (synchronization_id)`,

  `create table knee_logs (
  id uuid primary key,
  participant_id uuid not null references participants (id) on delete cascade,
  ${typed(KNEE, 'knee')} not null,
  format_version text not null check (format_version in ('v1', 'v2', 'v3', 'v4', 'v5')),
  legacy_study_id text,
  knee_directory text,
  log_created timestamp,
  log_updated timestamp,
  total_maneuvers integer,
  ${PROVENANCE},
  unique (participant_id, knee)
)`,

  `create table knee_log_maneuvers (
  id uuid primary key,
  knee_log_id uuid not null references knee_logs (id) on delete cascade,
  ${typed(MANEUVER, 'maneuver')} not null,
  last_updated timestamp,
  audio_processed boolean,
  biomechanics_imported boolean,
  num_synced_files integer,
  num_movement_cycles integer,
  audio_sync_time_s double precision,
  bio_sync_time_s double precision,
  sync_offset_s double precision,
  aligned_audio_sync_time_s double precision,
  aligned_bio_sync_time_s double precision,
  consensus_time_s double precision,
  rms_time_s double precision,
  onset_time_s double precision,
  freq_time_s double precision,
  method_agreement_span_s double precision,
  ${PROVENANCE},
  unique (knee_log_id, maneuver)
)`,

  `create table source_audio (
  id uuid primary key,
  sha256 text not null unique check (sha256 ~ '^[0-9a-f]{64}$'),
  size_bytes bigint check (size_bytes is null or size_bytes >= 0),
  duration_s double precision,
  sample_rate_hz integer,
  channels integer,
  codec text,
  run_id uuid references runs (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
)`,

  `create table profiles (
  id uuid primary key,
  name text not null unique check (name <> ''),
  in_config boolean not null,
  source_folder text,
  strategy text,
  output_format text check (output_format in ('opus', 'wav', 'aac')),
  output_bitrate integer,
  ${PROVENANCE}
)`,

  `create table recordings (
  id uuid primary key,
  profile_id uuid not null references profiles (id) on delete cascade,
  folder_name text not null check (folder_name <> ''),
  display_name text not null,
  metadata_layout text not null check (metadata_layout in ('none', 'v0', 'v1a', 'v1b', 'v2', 'v3', 'v4')),
  source_audio_id uuid references source_audio (id) on delete set null,
  source_link text not null check (source_link in ('hashed_source', 'processed_hashes', 'folder_suffix', 'none')),
  folder_hash_suffix text check (folder_hash_suffix ~ '^[0-9a-f]{8}$'),
  ${PROVENANCE},
  unique (profile_id, folder_name)
)`,
  `create index recordings_source_audio_idx on recordings (source_audio_id)`,

  `create table stems (
  id uuid primary key,
  recording_id uuid not null references recordings (id) on delete cascade,
  stem_type text not null check (stem_type <> ''),
  file_id uuid references files (id) on delete set null,
  stem_url text,
  waveform_url text,
  waveform_file_id uuid references files (id) on delete set null,
  measured_lufs double precision,
  target_lufs double precision,
  peak_amplitude double precision,
  stem_gain_adjustment_db double precision,
  ${PROVENANCE},
  unique (recording_id, stem_type)
)`,
  `create index stems_file_idx on stems (file_id)`,

  `create table processed_hashes (
  id uuid primary key,
  profile_id uuid not null references profiles (id) on delete cascade,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  folder_name text not null,
  ${PROVENANCE},
  unique (profile_id, sha256)
)`,

  `create table audit_log (
  id bigint generated always as identity primary key,
  table_name text not null,
  row_id uuid not null,
  operation text not null check (operation in ('insert', 'update', 'delete')),
  old_values jsonb,
  new_values jsonb,
  run_id uuid references runs (id) on delete set null,
  changed_at timestamptz not null default now()
)`,
  `create index audit_log_row_idx on audit_log (table_name, row_id)`,
  `create index audit_log_run_idx on audit_log (run_id)`,

  `create function aedb_touch_updated_at() returns trigger language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end
$$`,

  // Every insert, update and delete of aedb's tables lands here, with only the changed columns of an update.
  // The writing transaction names its run with set_config('aedb.run_id', ..., true).
  `create function aedb_audit() returns trigger language plpgsql as $$
declare
  old_row jsonb;
  new_row jsonb;
  changed_old jsonb := '{}'::jsonb;
  changed_new jsonb := '{}'::jsonb;
  column_name text;
  current_run uuid := nullif(current_setting('aedb.run_id', true), '')::uuid;
begin
  if tg_op = 'INSERT' then
    insert into audit_log (table_name, row_id, operation, new_values, run_id)
    values (tg_table_name, new.id, 'insert', to_jsonb(new) - 'created_at' - 'updated_at', current_run);
    return new;
  elsif tg_op = 'UPDATE' then
    old_row := to_jsonb(old) - 'updated_at';
    new_row := to_jsonb(new) - 'updated_at';
    for column_name in select jsonb_object_keys(new_row) loop
      if old_row -> column_name is distinct from new_row -> column_name then
        changed_old := changed_old || jsonb_build_object(column_name, old_row -> column_name);
        changed_new := changed_new || jsonb_build_object(column_name, new_row -> column_name);
      end if;
    end loop;
    if changed_new <> '{}'::jsonb then
      insert into audit_log (table_name, row_id, operation, old_values, new_values, run_id)
      values (tg_table_name, new.id, 'update', changed_old, changed_new, current_run);
    end if;
    return new;
  else
    insert into audit_log (table_name, row_id, operation, old_values, run_id)
    values (tg_table_name, old.id, 'delete', to_jsonb(old) - 'created_at' - 'updated_at', current_run);
    return old;
  end if;
end
$$`,
  ...AUDITED_TABLES.flatMap((table) => [
    `create trigger ${table}_touch_updated_at before update on ${table} for each row execute function aedb_touch_updated_at()`,
    `create trigger ${table}_audit after insert or update or delete on ${table} for each row execute function aedb_audit()`,
  ]),
  ...IMPORTED_TABLES.map((table) => `create index ${table}_source_file_idx on ${table} (source_file_id)`),
]

const DOWN: string[] = [
  'drop table if exists audit_log',
  'drop table if exists processed_hashes',
  'drop table if exists stems',
  'drop table if exists recordings',
  'drop table if exists profiles',
  'drop table if exists source_audio',
  'drop table if exists knee_log_maneuvers',
  'drop table if exists knee_logs',
  'drop table if exists movement_cycles',
  'drop table if exists cycle_extraction_summaries',
  'drop table if exists synchronizations',
  'drop table if exists biomechanics_imports',
  'drop table if exists audio_processing',
  'drop table if exists processing_logs',
  'drop table if exists participants',
  'drop table if exists studies',
  'drop table if exists source_imports',
  'drop table if exists files',
  'drop table if exists import_roots',
  'drop table if exists runs',
  'drop function if exists aedb_audit()',
  'drop function if exists aedb_touch_updated_at()',
]

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time and must not depend on today's types.
export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db)
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db)
}
