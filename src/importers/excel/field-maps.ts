import type {FieldType} from './cell-value.js'

export type FormatVersion = 'v1' | 'v2' | 'v3' | 'v4' | 'v5'
export type LogKind = 'maneuver' | 'knee'

/** One typed column and the headers (by version) that fill it. Headers are always matched within one sheet. */
export interface FieldMap {
  column: string
  headers: readonly string[]
  type: FieldType
  /** Only in these layouts (a header whose meaning changed between versions, e.g. `QC_not_passed`). */
  versions?: readonly FormatVersion[]
}

const CH = [1, 2, 3, 4] as const

function f(
  column: string,
  headers: string | readonly string[],
  type: FieldType,
  versions?: readonly FormatVersion[],
): FieldMap {
  return {
    column,
    headers: typeof headers === 'string' ? [headers] : headers,
    type,
    ...(versions ? {versions} : {}),
  }
}

/** A column plus its four per-channel columns: `base`, `base_ch1`…`base_ch4`. */
function channels(
  column: string,
  headerSets: readonly string[],
  type: FieldType,
  versions?: readonly FormatVersion[],
) {
  return [
    f(column, headerSets, type, versions),
    ...CH.map((n) =>
      f(
        `${column}_ch${n}`,
        headerSets.map((h) => `${h} Ch${n}`),
        type,
        versions,
      ),
    ),
  ]
}

export const SUMMARY_FIELDS: readonly FieldMap[] = [
  f('legacy_study_id', 'Study ID', 'text'),
  f('knee', 'Knee Side', 'knee'),
  f('maneuver', 'Maneuver', 'maneuver'),
  f('maneuver_directory', 'Maneuver Directory', 'text'),
  f('log_created', 'Log Created', 'timestamp'),
  f('log_updated', 'Log Updated', 'timestamp'),
  f('audio_processed', 'Audio Processed', 'bool'),
  f('biomechanics_imported', 'Biomechanics Imported', 'bool'),
  f('num_synced_files', 'Num Synced Files', 'int'),
  f('num_movement_cycles', 'Num Movement Cycles', 'int'),
]

export const AUDIO_FIELDS: readonly FieldMap[] = [
  f('audio_file', 'Audio File', 'text'),
  f('bin_file', 'Bin File', 'text'),
  f('pickle_file', 'Pickle File', 'text'),
  f('processing_date', 'Processing Date', 'timestamp'),
  f('status', 'Status', 'status'),
  f('error', 'Error', 'text'),
  f('sample_rate_hz', 'Sample Rate (Hz)', 'float'),
  f('channels', 'Channels', 'int'),
  f('duration_s', 'Duration (s)', 'float'),
  f('file_size_mb', 'File Size (MB)', 'float'),
  f('device_serial', 'Device Serial', 'text'),
  f('firmware_version', 'Firmware Version', 'int'),
  f('file_time', 'File Time', 'timestamp'),
  f('recording_date', 'Recording Date', 'timestamp'),
  f('recording_time', 'Recording Time', 'timestamp'),
  ...CH.map((n) => f(`ch${n}_rms`, `Ch${n} RMS`, 'float')),
  ...CH.map((n) => f(`ch${n}_peak`, `Ch${n} Peak`, 'float')),
  f('has_inst_freq', 'Has Inst. Freq', 'bool'),
  f('qc_version', 'Audio QC Version', 'int'),
  ...CH.map((n) => f(`mic_${n}_position`, `Mic ${n} Position`, 'mic')),
  ...CH.map((n) => f(`mic_${n}_notes`, `Mic ${n} Notes`, 'text')),
  f('notes', 'Notes', 'text'),
  f('linked_biomechanics', 'Linked Biomechanics', 'bool'),
  // v2/v3: QC_not_passed* held the failing (start, end) intervals; v4 made them booleans and moved the intervals.
  f('qc_fail_segments', 'QC_not_passed', 'intervals', ['v1', 'v2', 'v3']),
  ...CH.map((n) => f(`qc_fail_segments_ch${n}`, `QC_not_passed_mic_${n}`, 'intervals', ['v1', 'v2', 'v3'])),
  f('qc_fail', 'QC_not_passed', 'bool', ['v4', 'v5']),
  ...CH.map((n) => f(`qc_fail_ch${n}`, `QC_not_passed_mic_${n}`, 'bool', ['v4', 'v5'])),
  f('qc_fail_segments', ['Audio QC Fail Segments', 'QC Fail Segments'], 'intervals', ['v4', 'v5']),
  ...CH.map((n) =>
    f(`qc_fail_segments_ch${n}`, [`Audio QC Fail Segments Ch${n}`, `QC Fail Segments Ch${n}`], 'intervals', [
      'v4',
      'v5',
    ]),
  ),
  ...channels('qc_signal_dropout', ['Audio Signal Dropout', 'QC Signal Dropout'], 'bool'),
  ...CH.map((n) =>
    f(
      `qc_signal_dropout_segments_ch${n}`,
      [`Audio Signal Dropout Segments Ch${n}`, `QC Signal Dropout Segments Ch${n}`],
      'intervals',
    ),
  ),
  f(
    'qc_signal_dropout_segments',
    ['Audio Signal Dropout Segments', 'QC Signal Dropout Segments'],
    'intervals',
  ),
  ...channels('qc_artifact', ['Audio Artifact', 'QC Artifact', 'QC Continuous Artifact'], 'bool'),
  ...CH.map((n) =>
    f(
      `qc_artifact_type_ch${n}`,
      [`Audio Artifact Type Ch${n}`, `QC Artifact Type Ch${n}`, `QC Continuous Artifact Type Ch${n}`],
      'text',
    ),
  ),
  f('qc_artifact_type', ['Audio Artifact Type', 'QC Artifact Type', 'QC Continuous Artifact Type'], 'text'),
  ...CH.map((n) =>
    f(
      `qc_artifact_segments_ch${n}`,
      [
        `Audio Artifact Segments Ch${n}`,
        `QC Artifact Segments Ch${n}`,
        `QC Continuous Artifact Segments Ch${n}`,
      ],
      'intervals',
    ),
  ),
  f(
    'qc_artifact_segments',
    ['Audio Artifact Segments', 'QC Artifact Segments', 'QC Continuous Artifact Segments'],
    'intervals',
  ),
]

export const BIOMECHANICS_FIELDS: readonly FieldMap[] = [
  f('biomechanics_file', 'Biomechanics File', 'text'),
  f('sheet_name', 'Sheet Name', 'text'),
  f('processing_date', 'Processing Date', 'timestamp'),
  f('status', 'Status', 'status'),
  f('error', 'Error', 'text'),
  f('num_sub_recordings', ['Num Recordings', 'Num Sub-Recordings'], 'int'),
  f('num_passes', 'Num Passes', 'int'),
  f('duration_s', 'Duration (s)', 'float'),
  f('num_data_points', 'Num Data Points', 'int'),
  f('sample_rate_hz', 'Sample Rate (Hz)', 'float'),
  f('start_time_s', 'Start Time (s)', 'float'),
  f('end_time_s', 'End Time (s)', 'float'),
  f('qc_version', 'Biomech QC Version', 'int'),
]

export const SYNC_FIELDS: readonly FieldMap[] = [
  f('sync_file', 'Sync File', 'text'),
  f('pass_number', 'Pass Number', 'count'),
  f('speed', 'Speed', 'speed'),
  f('knee', ['Knee Side', 'Knee'], 'knee'),
  f('processing_date', 'Processing Date', 'timestamp'),
  f('status', ['Status', 'Processing Status'], 'status'),
  f('error', ['Error', 'Error Message'], 'text'),
  f('audio_sync_time_s', ['Audio Stomp (s)', 'Audio Sync Time (s)'], 'float'),
  f('bio_left_sync_time_s', ['Bio Left Stomp (s)', 'Bio Left Sync Time (s)'], 'float'),
  f('bio_right_sync_time_s', ['Bio Right Stomp (s)', 'Bio Right Sync Time (s)'], 'float'),
  f('sync_offset_s', ['Stomp Offset (s)', 'Sync Offset (s)'], 'float'),
  f('aligned_audio_sync_time_s', ['Aligned Audio Stomp (s)', 'Aligned Audio Sync Time (s)'], 'float'),
  f('aligned_bio_sync_time_s', ['Aligned Bio Stomp (s)', 'Aligned Biomechanics Sync Time (s)'], 'float'),
  f('num_samples', 'Num Samples', 'int'),
  f('duration_s', ['Duration (s)', 'Sync Duration (s)'], 'float'),
  f('sync_qc_done', 'Sync QC Done', 'bool'),
  f('sync_qc_passed', 'Sync QC Passed', 'bool'),
  f('audio_qc_version', 'Audio QC Version', 'int'),
  f('biomech_qc_version', 'Biomech QC Version', 'int'),
  f('cycle_qc_version', 'Cycle QC Version', 'int'),
  f('sync_method', 'Sync Method', 'sync_method'),
  f('consensus_time_s', ['Consensus (s)', 'Consensus Time (s)'], 'float'),
  f('consensus_methods', 'Consensus Methods', 'text'),
  f('rms_time_s', ['RMS Detect (s)', 'RMS Time (s)'], 'float'),
  f('onset_time_s', ['Onset Detect (s)', 'Onset Time (s)'], 'float'),
  f('freq_time_s', ['Freq Detect (s)', 'Freq Time (s)'], 'float'),
  f('rms_energy', 'RMS Energy', 'float'),
  f('onset_magnitude', 'Onset Magnitude', 'float'),
  f('freq_energy', 'Freq Energy', 'float'),
  f('method_agreement_span_s', 'Method Agreement Span (s)', 'float'),
  f('detection_method', ['Detection Method', 'Audio Stomp Method'], 'text'),
  f('selected_time_s', ['Selected Time (s)', 'Selected Audio Sync Time (s)'], 'float'),
  f('contra_selected_time_s', ['Contra Selected Time (s)', 'Contra Selected Audio Sync Time (s)'], 'float'),
  f('audio_visual_sync_time_s', 'Audio Visual Sync Time (s)', 'float'),
  f('audio_visual_sync_time_contra_s', 'Audio Visual Sync Time Contralateral (s)', 'float'),
  f('record_type', 'Record Type', 'text'),
]

/** v1-v3 `Movement Cycles`: one extraction summary per sync file. */
export const CYCLE_SUMMARY_FIELDS: readonly FieldMap[] = [
  f('sync_file', 'Source Sync File', 'text'),
  f('pass_number', 'Pass Number', 'count'),
  f('speed', 'Speed', 'speed'),
  f('knee', 'Knee Side', 'knee'),
  f('processing_date', 'Processing Date', 'timestamp'),
  f('status', 'Status', 'status'),
  f('error', 'Error', 'text'),
  f('total_cycles', 'Total Cycles', 'count'),
  f('clean_cycles', 'Clean Cycles', 'count'),
  f('outlier_cycles', 'Outlier Cycles', 'count'),
  f('acoustic_threshold', 'Acoustic Threshold', 'float'),
  f('output_directory', 'Output Directory', 'text'),
  f('plots_created', 'Plots Created', 'bool'),
  f('mean_duration_s', 'Mean Duration (s)', 'float'),
  f('median_duration_s', 'Median Duration (s)', 'float'),
  f('min_duration_s', 'Min Duration (s)', 'float'),
  f('max_duration_s', 'Max Duration (s)', 'float'),
  f('mean_acoustic_auc', 'Mean Acoustic AUC', 'float'),
  f('qc_version', 'Cycle QC Version', 'int'),
]

/** v4+ `Synchronization` rows also carry their cycle-extraction summary. */
export const SYNC_CYCLE_SUMMARY_FIELDS: readonly FieldMap[] = [
  f('total_cycles', 'Total Cycles Extracted', 'count'),
  f('clean_cycles', 'Clean Cycles', 'count'),
  f('outlier_cycles', 'Outlier Cycles', 'count'),
  f('mean_duration_s', 'Mean Cycle Duration (s)', 'float'),
  f('median_duration_s', 'Median Cycle Duration (s)', 'float'),
  f('min_duration_s', 'Min Cycle Duration (s)', 'float'),
  f('max_duration_s', 'Max Cycle Duration (s)', 'float'),
]

/** v1-v3 `Cycle Details` and v4 per-cycle `Movement Cycles` (v5 `Cycles`). */
export const CYCLE_FIELDS: readonly FieldMap[] = [
  f('cycle_index', 'Cycle Index', 'count'),
  f('is_outlier', 'Is Outlier', 'bool'),
  f('cycle_file', 'Cycle File', 'text'),
  f('sync_file', ['Source Sync File', 'Sync File'], 'text', ['v1', 'v2', 'v3']),
  f('start_s', 'Start (s)', 'float'),
  f('end_s', 'End (s)', 'float'),
  f('duration_s', 'Duration (s)', 'float'),
  f('acoustic_auc', 'Acoustic AUC', 'float'),
  ...CH.map((n) => f(`ch${n}_rms`, `Ch${n} RMS`, 'float')),
  f('audio_start_time', 'Audio Start Time', 'timestamp'),
  f('audio_end_time', 'Audio End Time', 'timestamp'),
  f('bio_start_time', 'Bio Start Time', 'timestamp'),
  f('bio_end_time', 'Bio End Time', 'timestamp'),
  f('biomechanics_qc_fail', 'Biomechanics QC Fail', 'bool'),
  f('sync_qc_fail', 'Sync QC Fail', 'bool'),
  f('biomechanics_qc_version', 'Biomechanics QC Version', 'int'),
  f('sync_qc_version', 'Sync QC Version', 'int'),
]

export const KNEE_SUMMARY_FIELDS: readonly FieldMap[] = [
  f('legacy_study_id', 'Study ID', 'text'),
  f('knee', 'Knee Side', 'knee'),
  f('knee_directory', 'Knee Directory', 'text'),
  f('log_created', 'Log Created', 'timestamp'),
  f('log_updated', 'Log Updated', 'timestamp'),
  f('total_maneuvers', 'Total Maneuvers', 'int'),
]

export const KNEE_MANEUVER_FIELDS: readonly FieldMap[] = [
  f('maneuver', 'Maneuver', 'maneuver'),
  f('last_updated', 'Last Updated', 'timestamp'),
  f('audio_processed', 'Audio Processed', 'bool'),
  f('biomechanics_imported', 'Biomechanics Imported', 'bool'),
  f('num_synced_files', ['Num Synced Files', 'Synchronization Records'], 'int'),
  f('num_movement_cycles', ['Num Movement Cycles', 'Movement Cycles'], 'int'),
  f('audio_sync_time_s', 'Audio Stomp (s)', 'float'),
  f('bio_sync_time_s', 'Bio Stomp (s)', 'float'),
  f('sync_offset_s', 'Stomp Offset (s)', 'float'),
  f('aligned_audio_sync_time_s', 'Aligned Audio Stomp (s)', 'float'),
  f('aligned_bio_sync_time_s', 'Aligned Bio Stomp (s)', 'float'),
  f('consensus_time_s', 'Consensus (s)', 'float'),
  f('rms_time_s', 'RMS Detect (s)', 'float'),
  f('onset_time_s', 'Onset Detect (s)', 'float'),
  f('freq_time_s', 'Freq Detect (s)', 'float'),
  f('method_agreement_span_s', 'Method Agreement Span (s)', 'float'),
]

const RECORD_CONTEXT = [
  'Study',
  'Study ID',
  'Linked Biomechanics',
  'Biomechanics File',
  'Biomechanics Type',
  'Biomechanics Sync Method',
  'Biomechanics Sample Rate (Hz)',
  'Biomechanics Notes',
  'Audio File',
  'Device Serial',
  'Firmware Version',
  'File Time',
  'File Size (MB)',
  'Recording Date',
  'Recording Time',
  'Knee',
  'Maneuver',
  'Sample Rate (Hz)',
  'Channels',
  ...CH.map((n) => `Mic ${n} Position`),
  ...CH.map((n) => `Mic ${n} Notes`),
  'Notes',
  'Pass',
  'Log Updated',
]

/**
 * Headers the legacy writers are known to have put in a sheet without a typed column here: context repeated from
 * other records (v3 `Cycle Details`, v4 per-record columns). They go verbatim to the row's `extra` silently; any
 * other unmapped header goes there too, with a warning.
 */
export const KNOWN_EXTRA_HEADERS: Readonly<Record<string, readonly string[]>> = {
  'maneuver/Audio': RECORD_CONTEXT,
  'maneuver/Biomechanics': RECORD_CONTEXT,
  // A v4 `sync_only` row still has the (zero) cycle columns; with no summary to hold them they stay in extra.
  'maneuver/Synchronization': [...RECORD_CONTEXT, ...SYNC_CYCLE_SUMMARY_FIELDS.flatMap((m) => m.headers)],
  'maneuver/Movement Cycles': [
    ...RECORD_CONTEXT,
    ...AUDIO_FIELDS.flatMap((m) => m.headers),
    ...SYNC_FIELDS.flatMap((m) => m.headers),
    'Processing Date',
    'Status',
    'Error',
  ],
  'maneuver/Cycles': [
    ...RECORD_CONTEXT,
    ...AUDIO_FIELDS.flatMap((m) => m.headers),
    ...SYNC_FIELDS.flatMap((m) => m.headers),
  ],
  'maneuver/Cycle Details': [
    'Pass Number',
    'Speed',
    'Knee Side',
    'Audio File',
    'Audio Bin File',
    'Audio Pkl File',
    'Audio Sample Rate (Hz)',
    'Audio Duration (s)',
    'Audio Channels',
    'Audio Size (MB)',
    'Audio Device Serial',
    'Audio Firmware',
    'Audio File Time',
    'Audio Has Inst Freq',
    'Audio QC Version',
    'Audio Status',
    'Audio Processing Date',
    'Audio Error',
    'Biomechanics File',
    'Biomech Sheet',
    'Biomech Sample Rate (Hz)',
    'Biomech Duration (s)',
    'Biomech Num Recordings',
    'Biomech Num Passes',
    'Biomech Start (s)',
    'Biomech End (s)',
    'Biomech Data Points',
    'Biomech QC Version',
    'Biomech Status',
    'Biomech Processing Date',
    'Biomech Error',
    'Audio Stomp (s)',
    'Bio Left Stomp (s)',
    'Bio Right Stomp (s)',
    'Stomp Offset (s)',
    'Aligned Audio Stomp (s)',
    'Aligned Bio Stomp (s)',
    'Num Synced Samples',
    'Sync Duration (s)',
    'Sync QC Performed',
    'Sync QC Passed',
    'Consensus Time (s)',
    'Consensus Methods',
    'RMS Time (s)',
    'Onset Time (s)',
    'Freq Time (s)',
    'RMS Energy',
    'Onset Magnitude',
    'Freq Energy',
    'Method Agreement Span (s)',
    'Detection Method',
    'Selected Time (s)',
    'Contra Selected Time (s)',
    'Sync Status',
    'Sync Processing Date',
    'Sync Error',
    'QC Acoustic Threshold',
    'Cycle QC Version',
    'Total Cycles Extracted',
    'Total Clean Cycles',
    'Total Outlier Cycles',
    'Mean Cycle Duration (s)',
    'Median Cycle Duration (s)',
    'Min Cycle Duration (s)',
    'Max Cycle Duration (s)',
    'Mean Acoustic AUC',
    'Cycles Status',
    'Cycles Processing Date',
    'Cycles Output Dir',
    'Cycles Plots Created',
    'Study ID',
    'Maneuver',
  ],
  'knee/Knee Summary': ['Audio Records', 'Biomechanics Records'],
}

/** Headers a sheet must have to be imported at all (beyond this, every column is optional). */
export const REQUIRED_HEADERS: Readonly<Record<string, readonly (readonly string[])[]>> = {
  'maneuver/Summary': [['Study ID'], ['Knee Side'], ['Maneuver']],
  'maneuver/Audio': [['Audio File']],
  'maneuver/Biomechanics': [['Biomechanics File']],
  'maneuver/Synchronization': [['Sync File']],
  'maneuver/Movement Cycles@summary': [['Source Sync File']],
  'maneuver/Movement Cycles@cycles': [['Cycle Index'], ['Is Outlier']],
  'maneuver/Cycles@cycles': [['Cycle Index'], ['Is Outlier']],
  'maneuver/Cycle Details': [['Cycle Index'], ['Is Outlier'], ['Source Sync File', 'Sync File']],
  'knee/Summary': [['Study ID'], ['Knee Side']],
  'knee/Maneuver Summaries': [['Maneuver']],
  'knee/Knee Summary': [['Maneuver']],
}

/** The text of a placeholder sheet (header `Note`, one row) meaning "no record of this stage". */
export const PLACEHOLDER_HEADER = 'Note'
