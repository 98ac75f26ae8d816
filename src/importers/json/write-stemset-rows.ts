import {deterministicId} from '../../db/deterministic-id.js'
import {rowContentHash} from '../../db/row-content-hash.js'
import type {ImportedTable} from '../../db/schema.js'
import {deletedCounts, deleteStaleRows, type UpsertCounts, upsertRows} from '../../db/upsert-rows.js'
import {type FileCatalog, type FileRecord, upsertFiles} from '../../files/file-catalog.js'
import type {ImportSession, UnitContext} from '../import-session.js'
import type {RecordingFolder} from './discover-stemset-trees.js'
import {folderHashSuffix} from './legacy-output-name.js'
import type {SourceLink} from './link-source.js'
import {pathKey} from './metadata-layout.js'
import type {ProfilePlan} from './profile-sources.js'
import type {ReadRecording} from './read-recording.js'

/** One profile's rows in one unit: its files (config, hash index, sources), the profile, its hash index. */
export async function writeProfile(
  session: ImportSession,
  catalog: FileCatalog,
  plan: ProfilePlan,
  configFile: FileRecord | null,
  treeHasConfig: boolean,
): Promise<void> {
  const profileId = deterministicId('profile', plan.name)
  await session.unit(async ({trx, runId, count}) => {
    const files = [configFile, plan.indexFile, ...plan.sources.map((s) => s.record)].filter(
      (f): f is FileRecord => f !== null,
    )
    if (files.length > 0) count('files', await upsertFiles(trx, catalog.rootPath, files, runId))
    const config = plan.config
    const row = withContentHash('profiles', {
      id: profileId,
      name: plan.name,
      in_config: config !== null,
      source_folder: config?.sourceFolder ?? null,
      strategy: config?.strategy ?? null,
      output_format: config?.outputFormat ?? null,
      output_bitrate: config?.outputBitrate ?? null,
      source_file_id: config ? (configFile?.id ?? null) : null,
      source_sheet: null,
      source_row: null,
      source_path: config?.path ?? null,
      extra: config?.extra ?? {},
      run_id: runId,
    })
    if (treeHasConfig) {
      count('profiles', await upsertRows({db: trx, table: 'profiles', rows: [row], conflict: ['name']}))
    } else {
      // Without a config.yaml this import knows only the name: never overwrite what a config-based import wrote.
      count(
        'profiles',
        await upsertRows({
          db: trx,
          table: 'profiles',
          rows: [row],
          conflict: ['name'],
          compare: NEVER_UPDATE.profiles,
        }),
      )
    }
    if (plan.indexFile) {
      // Keyed by hash: a key written twice (in two cases) is one entry, the last one, as Python would read it.
      const byHash = new Map<string, string>()
      for (const [folderName, hashes] of plan.processed) for (const sha of hashes) byHash.set(sha, folderName)
      const rows = [...byHash].map(([sha, folderName]) =>
        withContentHash('processed_hashes', {
          id: deterministicId('processed_hash', plan.name, sha),
          profile_id: profileId,
          sha256: sha,
          folder_name: folderName,
          source_file_id: plan.indexFile!.id,
          source_sheet: null,
          source_row: null,
          source_path: pathKey(sha).replace(/^\./, ''),
          extra: {},
          run_id: runId,
        }),
      )
      count(
        'processed_hashes',
        await upsertRows({db: trx, table: 'processed_hashes', rows, conflict: ['profile_id', 'sha256']}),
      )
      count(
        'processed_hashes',
        deletedCounts(
          await deleteStaleRows({
            db: trx,
            table: 'processed_hashes',
            scope: {column: 'profile_id', value: profileId},
            keepIds: rows.map((r) => r.id),
          }),
        ),
      )
    }
  })
}

/** What a recording is read by: a change to what it reads from a metadata.json bumps it. */
export const JSON_PARSER_VERSION = 'json-1'

/**
 * The source_imports row that marks a metadata.json's bytes as imported: verify's `sources` check compares the file
 * with them (SOURCE_CHANGED, naming the import-json that re-reads it) instead of treating it as a data file.
 */
function jsonSourceImportRow(metadata: FileRecord, runId: string): Record<string, unknown> {
  return {
    id: deterministicId('source_import', metadata.id, 'json', JSON_PARSER_VERSION, metadata.sha256!),
    file_id: metadata.id,
    importer: 'json',
    parser_version: JSON_PARSER_VERSION,
    sha256: metadata.sha256!,
    run_id: runId,
  }
}

/** One recording all-or-nothing: its files, its source content, the recording, its stems (stale ones deleted). */
export async function writeRecording(
  {trx, runId, count, warn}: UnitContext,
  catalog: FileCatalog,
  profileId: string,
  plan: ProfilePlan,
  folder: RecordingFolder,
  read: ReadRecording,
  link: SourceLink,
): Promise<boolean> {
  const counts: UpsertCounts[] = []
  const tally = (table: string, c: UpsertCounts) => {
    count(table, c)
    counts.push(c)
  }
  tally('files', await upsertFiles(trx, catalog.rootPath, read.files, runId))
  if (read.metadataFile) {
    const sourceImport = jsonSourceImportRow(read.metadataFile, runId)
    const conflict = ['file_id', 'importer', 'parser_version', 'sha256']
    tally(
      'source_imports',
      await upsertRows({db: trx, table: 'source_imports', rows: [sourceImport], conflict}),
    )
  }

  let sourceAudioId: string | null = null
  if (link.sha256) {
    sourceAudioId = deterministicId('source_audio', link.sha256)
    const known =
      link.file?.record ?? plan.sources.find((s) => s.record.sha256 === link.sha256)?.record ?? null
    const row = {
      id: sourceAudioId,
      sha256: link.sha256,
      size_bytes: known?.size_bytes ?? null,
      duration_s: known?.duration_s ?? null,
      sample_rate_hz: known?.sample_rate_hz ?? null,
      channels: known?.channels ?? null,
      codec: known?.codec ?? null,
      run_id: runId,
    }
    // Bytes not on disk add nothing to what a run that saw them wrote; only the hash is known.
    tally(
      'source_audio',
      known
        ? await upsertRows({db: trx, table: 'source_audio', rows: [row], conflict: ['sha256']})
        : await upsertRows({
            db: trx,
            table: 'source_audio',
            rows: [row],
            conflict: ['sha256'],
            compare: NEVER_UPDATE.source_audio,
          }),
    )
  }
  const folderName = folder.folderName
  const recordingId = deterministicId('recording', plan.name, folderName)
  for (const message of link.warnings)
    warn({file: folder.relPath, code: 'SOURCE_CHANGED', message: `${folder.relPath}: ${message}.`})
  const recording = withContentHash('recordings', {
    id: recordingId,
    profile_id: profileId,
    folder_name: folderName,
    display_name: read.displayName ? read.displayName.normalize('NFC') : folderName,
    metadata_layout: read.layout,
    source_audio_id: sourceAudioId,
    source_link: sourceAudioId ? link.link : 'none',
    folder_hash_suffix: folderHashSuffix(folderName),
    source_file_id: read.metadataFile?.id ?? null,
    source_sheet: null,
    source_row: null,
    source_path: null,
    extra: read.extra,
    run_id: runId,
  })
  tally(
    'recordings',
    await upsertRows({
      db: trx,
      table: 'recordings',
      rows: [recording],
      conflict: ['profile_id', 'folder_name'],
    }),
  )
  const stems = read.stems.map((stem) =>
    withContentHash('stems', {
      id: deterministicId('stem', recordingId, stem.stemType),
      recording_id: recordingId,
      stem_type: stem.stemType,
      file_id: stem.file.id,
      stem_url: stem.entry.stemUrl,
      waveform_url: stem.waveformUrl,
      waveform_file_id: stem.waveformFile?.id ?? null,
      measured_lufs: stem.entry.measuredLufs,
      target_lufs: stem.entry.targetLufs,
      peak_amplitude: stem.entry.peakAmplitude,
      stem_gain_adjustment_db: stem.entry.gainDb,
      source_file_id: read.metadataFile?.id ?? null,
      source_sheet: null,
      source_row: null,
      source_path: read.metadataFile ? stem.entry.path : null,
      extra: stem.entry.extra,
      run_id: runId,
    }),
  )
  tally(
    'stems',
    await upsertRows({db: trx, table: 'stems', rows: stems, conflict: ['recording_id', 'stem_type']}),
  )
  const deleted = await deleteStaleRows({
    db: trx,
    table: 'stems',
    scope: {column: 'recording_id', value: recordingId},
    keepIds: stems.map((s) => s.id),
  })
  count('stems', deletedCounts(deleted))
  for (const warning of read.warnings) warn(warning)
  return deleted > 0 || counts.some((c) => c.inserted + c.updated > 0)
}

/**
 * Comparing only the natural key, which never differs from the conflicting row, makes upsertRows an
 * `insert … on conflict do nothing`: for rows that may add to what is there but never overwrite it.
 */
const NEVER_UPDATE = {profiles: ['name'], source_audio: ['sha256']} as const

/** The same function verify uses on the values it reads back (ROW_EDITED). */
function withContentHash<T extends Record<string, unknown>>(
  table: ImportedTable,
  row: T,
): T & {content_hash: string} {
  return {...row, content_hash: rowContentHash(table, row)}
}
