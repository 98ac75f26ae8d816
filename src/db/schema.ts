import type {ColumnType, Insertable, Selectable, Updateable} from 'kysely'

/**
 * The schema as data: one entry per column, `<udt>` with `?` when nullable and `=` when the database fills it
 * (a default or an identity). The Kysely `Database` type below is derived from this object, and a test compares
 * this object with the live catalog of a migrated database, so types and schema cannot drift apart.
 */
type Udt =
  | 'uuid'
  | 'text'
  | 'int4'
  | 'int8'
  | 'float8'
  | 'bool'
  | 'jsonb'
  | 'timestamp'
  | 'timestamptz'
  | '_float8'
export type ColumnSpec = `${Udt}${'' | '?'}${'' | '='}`

const TIMESTAMPS = {created_at: 'timestamptz=', updated_at: 'timestamptz='} as const

const PROVENANCE = {
  source_file_id: 'uuid?',
  source_sheet: 'text?',
  source_row: 'int4?',
  source_path: 'text?',
  content_hash: 'text',
  run_id: 'uuid?',
  extra: 'jsonb=',
  ...TIMESTAMPS,
} as const

const CHANNELS = ['ch1', 'ch2', 'ch3', 'ch4'] as const
function perChannel<B extends string, S extends ColumnSpec>(base: B, spec: S) {
  return Object.fromEntries([base, ...CHANNELS.map((c) => `${base}_${c}`)].map((name) => [name, spec])) as {
    [K in B | `${B}_${(typeof CHANNELS)[number]}`]: S
  }
}

export const SCHEMA = {
  runs: {
    id: 'uuid=',
    command: 'text',
    arguments: 'jsonb=',
    aedb_version: 'text',
    hostname: 'text?',
    pid: 'int4?',
    started_at: 'timestamptz=',
    finished_at: 'timestamptz?',
    outcome: 'text=',
    counts: 'jsonb=',
  },
  /** The rejections and warnings of a finished run, in the order it met them (`aedb runs show`). */
  run_messages: {
    id: 'uuid=',
    run_id: 'uuid',
    position: 'int4',
    kind: 'text',
    file: 'text',
    sheet: 'text?',
    row: 'int4?',
    column: 'text?',
    code: 'text',
    message: 'text',
  },
  import_roots: {id: 'uuid', path: 'text', ...TIMESTAMPS},
  files: {
    id: 'uuid',
    root_id: 'uuid',
    rel_path: 'text',
    kind: 'text',
    present: 'bool',
    size_bytes: 'int8?',
    mtime: 'timestamptz?',
    sha256: 'text?',
    hashed_at: 'timestamptz?',
    duration_s: 'float8?',
    sample_rate_hz: 'int4?',
    channels: 'int4?',
    codec: 'text?',
    probe_error: 'text?',
    run_id: 'uuid?',
    ...TIMESTAMPS,
  },
  source_imports: {
    id: 'uuid',
    file_id: 'uuid',
    importer: 'text',
    parser_version: 'text',
    sha256: 'text',
    run_id: 'uuid?',
    ...TIMESTAMPS,
  },
  studies: {id: 'uuid', name: 'text', run_id: 'uuid?', ...TIMESTAMPS},
  participants: {id: 'uuid', study_id: 'uuid', participant_number: 'int4', run_id: 'uuid?', ...TIMESTAMPS},
  processing_logs: {
    id: 'uuid',
    participant_id: 'uuid',
    knee: 'text',
    maneuver: 'text',
    format_version: 'text',
    legacy_study_id: 'text?',
    maneuver_directory: 'text?',
    log_created: 'timestamp?',
    log_updated: 'timestamp?',
    audio_processed: 'bool?',
    biomechanics_imported: 'bool?',
    num_synced_files: 'int4?',
    num_movement_cycles: 'int4?',
    ...PROVENANCE,
  },
  audio_processing: {
    id: 'uuid',
    processing_log_id: 'uuid',
    audio_file: 'text?',
    bin_file: 'text?',
    pickle_file: 'text?',
    processing_date: 'timestamp?',
    status: 'text?',
    error: 'text?',
    sample_rate_hz: 'float8?',
    channels: 'int4?',
    duration_s: 'float8?',
    file_size_mb: 'float8?',
    device_serial: 'text?',
    firmware_version: 'int4?',
    file_time: 'timestamp?',
    recording_date: 'timestamp?',
    recording_time: 'timestamp?',
    ch1_rms: 'float8?',
    ch2_rms: 'float8?',
    ch3_rms: 'float8?',
    ch4_rms: 'float8?',
    ch1_peak: 'float8?',
    ch2_peak: 'float8?',
    ch3_peak: 'float8?',
    ch4_peak: 'float8?',
    has_inst_freq: 'bool?',
    qc_version: 'int4?',
    mic_1_position: 'text?',
    mic_2_position: 'text?',
    mic_3_position: 'text?',
    mic_4_position: 'text?',
    mic_1_notes: 'text?',
    mic_2_notes: 'text?',
    mic_3_notes: 'text?',
    mic_4_notes: 'text?',
    notes: 'text?',
    linked_biomechanics: 'bool?',
    qc_fail: 'bool?',
    qc_fail_ch1: 'bool?',
    qc_fail_ch2: 'bool?',
    qc_fail_ch3: 'bool?',
    qc_fail_ch4: 'bool?',
    ...perChannel('qc_fail_segments', '_float8?'),
    ...perChannel('qc_signal_dropout', 'bool?'),
    ...perChannel('qc_signal_dropout_segments', '_float8?'),
    ...perChannel('qc_artifact', 'bool?'),
    ...perChannel('qc_artifact_type', 'text?'),
    ...perChannel('qc_artifact_segments', '_float8?'),
    ...PROVENANCE,
  },
  biomechanics_imports: {
    id: 'uuid',
    processing_log_id: 'uuid',
    biomechanics_file: 'text?',
    sheet_name: 'text?',
    processing_date: 'timestamp?',
    status: 'text?',
    error: 'text?',
    num_sub_recordings: 'int4?',
    num_passes: 'int4?',
    duration_s: 'float8?',
    num_data_points: 'int4?',
    sample_rate_hz: 'float8?',
    start_time_s: 'float8?',
    end_time_s: 'float8?',
    qc_version: 'int4?',
    ...PROVENANCE,
  },
  synchronizations: {
    id: 'uuid',
    processing_log_id: 'uuid',
    sync_file: 'text?',
    pass_number: 'int4?',
    speed: 'text?',
    knee: 'text?',
    processing_date: 'timestamp?',
    status: 'text?',
    error: 'text?',
    audio_sync_time_s: 'float8?',
    bio_left_sync_time_s: 'float8?',
    bio_right_sync_time_s: 'float8?',
    sync_offset_s: 'float8?',
    aligned_audio_sync_time_s: 'float8?',
    aligned_bio_sync_time_s: 'float8?',
    num_samples: 'int4?',
    duration_s: 'float8?',
    sync_qc_done: 'bool?',
    sync_qc_passed: 'bool?',
    audio_qc_version: 'int4?',
    biomech_qc_version: 'int4?',
    cycle_qc_version: 'int4?',
    sync_method: 'text?',
    consensus_time_s: 'float8?',
    consensus_methods: 'text?',
    rms_time_s: 'float8?',
    onset_time_s: 'float8?',
    freq_time_s: 'float8?',
    rms_energy: 'float8?',
    onset_magnitude: 'float8?',
    freq_energy: 'float8?',
    method_agreement_span_s: 'float8?',
    detection_method: 'text?',
    selected_time_s: 'float8?',
    contra_selected_time_s: 'float8?',
    audio_visual_sync_time_s: 'float8?',
    audio_visual_sync_time_contra_s: 'float8?',
    record_type: 'text?',
    ...PROVENANCE,
  },
  cycle_extraction_summaries: {
    id: 'uuid',
    processing_log_id: 'uuid',
    synchronization_id: 'uuid?',
    sync_file: 'text?',
    pass_number: 'int4?',
    speed: 'text?',
    knee: 'text?',
    processing_date: 'timestamp?',
    status: 'text?',
    error: 'text?',
    total_cycles: 'int4?',
    clean_cycles: 'int4?',
    outlier_cycles: 'int4?',
    acoustic_threshold: 'float8?',
    output_directory: 'text?',
    plots_created: 'bool?',
    mean_duration_s: 'float8?',
    median_duration_s: 'float8?',
    min_duration_s: 'float8?',
    max_duration_s: 'float8?',
    mean_acoustic_auc: 'float8?',
    qc_version: 'int4?',
    ...PROVENANCE,
  },
  movement_cycles: {
    id: 'uuid',
    processing_log_id: 'uuid',
    synchronization_id: 'uuid?',
    sync_file: 'text?',
    cycle_index: 'int4',
    is_outlier: 'bool',
    cycle_file: 'text?',
    start_s: 'float8?',
    end_s: 'float8?',
    duration_s: 'float8?',
    acoustic_auc: 'float8?',
    ch1_rms: 'float8?',
    ch2_rms: 'float8?',
    ch3_rms: 'float8?',
    ch4_rms: 'float8?',
    audio_start_time: 'timestamp?',
    audio_end_time: 'timestamp?',
    bio_start_time: 'timestamp?',
    bio_end_time: 'timestamp?',
    biomechanics_qc_fail: 'bool?',
    sync_qc_fail: 'bool?',
    biomechanics_qc_version: 'int4?',
    sync_qc_version: 'int4?',
    ...PROVENANCE,
  },
  knee_logs: {
    id: 'uuid',
    participant_id: 'uuid',
    knee: 'text',
    format_version: 'text',
    legacy_study_id: 'text?',
    knee_directory: 'text?',
    log_created: 'timestamp?',
    log_updated: 'timestamp?',
    total_maneuvers: 'int4?',
    ...PROVENANCE,
  },
  knee_log_maneuvers: {
    id: 'uuid',
    knee_log_id: 'uuid',
    maneuver: 'text',
    last_updated: 'timestamp?',
    audio_processed: 'bool?',
    biomechanics_imported: 'bool?',
    num_synced_files: 'int4?',
    num_movement_cycles: 'int4?',
    audio_sync_time_s: 'float8?',
    bio_sync_time_s: 'float8?',
    sync_offset_s: 'float8?',
    aligned_audio_sync_time_s: 'float8?',
    aligned_bio_sync_time_s: 'float8?',
    consensus_time_s: 'float8?',
    rms_time_s: 'float8?',
    onset_time_s: 'float8?',
    freq_time_s: 'float8?',
    method_agreement_span_s: 'float8?',
    ...PROVENANCE,
  },
  source_audio: {
    id: 'uuid',
    sha256: 'text',
    size_bytes: 'int8?',
    duration_s: 'float8?',
    sample_rate_hz: 'int4?',
    channels: 'int4?',
    codec: 'text?',
    run_id: 'uuid?',
    ...TIMESTAMPS,
  },
  profiles: {
    id: 'uuid',
    name: 'text',
    in_config: 'bool',
    source_folder: 'text?',
    strategy: 'text?',
    output_format: 'text?',
    output_bitrate: 'int4?',
    ...PROVENANCE,
  },
  recordings: {
    id: 'uuid',
    profile_id: 'uuid',
    folder_name: 'text',
    display_name: 'text',
    metadata_layout: 'text',
    source_audio_id: 'uuid?',
    source_link: 'text',
    folder_hash_suffix: 'text?',
    ...PROVENANCE,
  },
  stems: {
    id: 'uuid',
    recording_id: 'uuid',
    stem_type: 'text',
    file_id: 'uuid?',
    stem_url: 'text?',
    waveform_url: 'text?',
    waveform_file_id: 'uuid?',
    measured_lufs: 'float8?',
    target_lufs: 'float8?',
    peak_amplitude: 'float8?',
    stem_gain_adjustment_db: 'float8?',
    ...PROVENANCE,
  },
  processed_hashes: {id: 'uuid', profile_id: 'uuid', sha256: 'text', folder_name: 'text', ...PROVENANCE},
  audit_log: {
    id: 'int8=',
    table_name: 'text',
    row_id: 'uuid',
    operation: 'text',
    old_values: 'jsonb?',
    new_values: 'jsonb?',
    run_id: 'uuid?',
    changed_at: 'timestamptz=',
  },
  verify_files: {
    file_id: 'uuid',
    verified_at: 'timestamptz',
    run_id: 'uuid?',
    present: 'bool',
    size_bytes: 'int8?',
    mtime: 'timestamptz?',
    sha256: 'text?',
  },
  verify_findings: {
    key: 'text',
    check_name: 'text',
    code: 'text',
    severity: 'text',
    table_name: 'text?',
    row_id: 'text?',
    path: 'text?',
    message: 'text',
    first_seen_run: 'uuid?',
    last_seen_run: 'uuid?',
    resolved_run: 'uuid?',
    first_seen_at: 'timestamptz=',
    last_seen_at: 'timestamptz=',
    resolved_at: 'timestamptz?',
  },
  verify_schema_fingerprints: {
    id: 'int8=',
    recorded_at: 'timestamptz=',
    migration: 'text?',
    sha256: 'text',
    objects: 'jsonb',
  },
} as const satisfies Record<string, Record<string, ColumnSpec>>

export type JsonObject = {[key: string]: unknown}

/** [select, insert, update] types of one column type. */
type Triple<U extends string> = U extends 'uuid' | 'text' | 'timestamp'
  ? [string, string, string]
  : U extends 'int4' | 'int8' | 'float8'
    ? [number, number, number]
    : U extends 'bool'
      ? [boolean, boolean, boolean]
      : U extends 'jsonb'
        ? [JsonObject, string, string]
        : U extends 'timestamptz'
          ? [Date, Date | string, Date | string]
          : U extends '_float8'
            ? [number[], string, string]
            : never

type Build<
  T extends [unknown, unknown, unknown],
  Nullable extends boolean,
  HasDefault extends boolean,
> = ColumnType<
  Nullable extends true ? T[0] | null : T[0],
  (Nullable extends true ? T[1] | null | undefined : T[1]) | (HasDefault extends true ? undefined : never),
  Nullable extends true ? T[2] | null : T[2]
>

type ToColumn<S extends string> = S extends `${infer U}?=`
  ? Build<Triple<U>, true, true>
  : S extends `${infer U}=`
    ? Build<Triple<U>, false, true>
    : S extends `${infer U}?`
      ? Build<Triple<U>, true, false>
      : Build<Triple<S>, false, false>

type Spec = typeof SCHEMA

export type Database = {
  [T in keyof Spec]: {
    -readonly [C in keyof Spec[T]]: Spec[T][C] extends string ? ToColumn<Spec[T][C]> : never
  }
}

export type TableName = keyof Database
export type Row<T extends TableName> = Selectable<Database[T]>
export type NewRow<T extends TableName> = Insertable<Database[T]>
export type RowUpdate<T extends TableName> = Updateable<Database[T]>

/** The imported tables `backfill-excel` fills from the processing logs (the rest are import-json's). */
export const EXCEL_LOG_TABLES = [
  'processing_logs',
  'audio_processing',
  'biomechanics_imports',
  'synchronizations',
  'cycle_extraction_summaries',
  'movement_cycles',
  'knee_logs',
  'knee_log_maneuvers',
] as const satisfies readonly TableName[]

/** Tables whose rows come from legacy inputs and carry provenance, a content hash and an `extra` jsonb. */
export const IMPORTED_TABLES = [
  ...EXCEL_LOG_TABLES,
  'profiles',
  'recordings',
  'stems',
  'processed_hashes',
] as const satisfies readonly TableName[]

export type ImportedTable = (typeof IMPORTED_TABLES)[number]

/** Every table aedb owns, in the order a report lists them. */
export const TABLES = Object.keys(SCHEMA) as TableName[]
