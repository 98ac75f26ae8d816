import {type Dirent, readdirSync} from 'node:fs'
import path from 'node:path'
import {type Kysely, sql} from 'kysely'
import {deterministicId} from '../../db/deterministic-id.js'
import type {Database} from '../../db/schema.js'
import type {FileCatalog} from '../../files/file-catalog.js'
import type {ImportSession} from '../import-session.js'
import {isStrayName, type RecordingFolder} from './discover-stemset-trees.js'
import type {SourceLink} from './link-source.js'
import {JSON_PARSER_VERSION} from './write-stemset-rows.js'

/** What the last import wrote for one recording: enough to tell, from sizes and mtimes, that nothing changed. */
export interface ImportedRecording {
  sourceAudioId: string | null
  sourceLink: string
  /** The source_audio row has what a run that saw the source's bytes writes (not just its hash). */
  sourceDescribed: boolean
  /** Its metadata.json's bytes are recorded in source_imports (imports before 2026-12-06 did not record them). */
  metadataRecorded: boolean
  /** Relative paths (under this root) of its metadata.json, stem and waveform files. */
  files: Set<string>
  /** Relative paths of its stem audio files, all probed with a duration. */
  stemFiles: string[]
  stemsWithoutDuration: number
  stems: number
}

/**
 * The recordings of these profiles that the last import wrote from a metadata.json under `rootId`, keyed by
 * {@link importedKey}. Recordings whose files lie under another root (a copied tree) are left out: always read.
 */
export async function loadImportedRecordings(
  db: Kysely<Database>,
  rootId: string,
  profileIds: readonly string[],
): Promise<Map<string, ImportedRecording>> {
  const imported = new Map<string, ImportedRecording>()
  if (profileIds.length === 0) return imported
  const {rows} = await sql<{
    profile_id: string
    folder_name: string
    source_audio_id: string | null
    source_link: string
    source_described: boolean
    metadata_recorded: boolean
    metadata_rel: string
    stem_rel: string | null
    stem_has_duration: boolean | null
    waveform_rel: string | null
    other_root: boolean
  }>`
    select r.profile_id, r.folder_name, r.source_audio_id, r.source_link,
      coalesce(sa.size_bytes is not null, false) as source_described,
      exists (select 1 from source_imports si where si.file_id = m.id and si.importer = 'json'
        and si.parser_version = ${JSON_PARSER_VERSION} and si.sha256 = m.sha256) as metadata_recorded,
      m.rel_path as metadata_rel, f.rel_path as stem_rel, f.duration_s is not null as stem_has_duration,
      w.rel_path as waveform_rel,
      (m.root_id <> ${rootId} or f.root_id <> ${rootId} or coalesce(w.root_id <> ${rootId}, false)) as other_root
    from recordings r
    join files m on m.id = r.source_file_id
    left join source_audio sa on sa.id = r.source_audio_id
    left join stems s on s.recording_id = r.id
    left join files f on f.id = s.file_id
    left join files w on w.id = s.waveform_file_id
    where r.profile_id = any(${`{${profileIds.join(',')}}`}::uuid[])`.execute(db)
  const otherRoot = new Set<string>()
  for (const row of rows) {
    const key = importedKey(row.profile_id, row.folder_name)
    if (row.other_root) otherRoot.add(key)
    const recording = imported.get(key) ?? {
      sourceAudioId: row.source_audio_id,
      sourceLink: row.source_link,
      sourceDescribed: row.source_described,
      metadataRecorded: row.metadata_recorded,
      files: new Set([row.metadata_rel]),
      stemFiles: [],
      stemsWithoutDuration: 0,
      stems: 0,
    }
    imported.set(key, recording)
    if (row.stem_rel === null) continue
    recording.stems++
    recording.files.add(row.stem_rel)
    recording.stemFiles.push(row.stem_rel)
    if (!row.stem_has_duration) recording.stemsWithoutDuration++
    if (row.waveform_rel !== null) recording.files.add(row.waveform_rel)
  }
  for (const key of otherRoot) imported.delete(key)
  return imported
}

export function importedKey(profileId: string, folderName: string): string {
  return `${profileId}/${folderName}`
}

/**
 * True when reading `folder` again could change nothing: the last import wrote it from a metadata.json, every
 * file it read (metadata.json, stems, waveforms) is still a regular file of the size and mtime recorded with its
 * hash (the hash cache's own test), the folder holds no file it did not read (a new waveform or stem), and its
 * source link is what was stored. Recordings that gave warnings when read (a stem without a duration, no stems)
 * are always read again, so a re-run repeats their warnings.
 */
export async function isRecordingUnchanged(props: {
  catalog: FileCatalog
  folder: RecordingFolder
  imported: ImportedRecording | undefined
  link: SourceLink
}): Promise<boolean> {
  const {catalog, folder, imported, link} = props
  if (!imported || imported.stems === 0 || imported.stemsWithoutDuration > 0) return false
  const sourceAudioId = link.sha256 ? deterministicId('source_audio', link.sha256) : null
  if (sourceAudioId !== imported.sourceAudioId) return false
  if ((sourceAudioId ? link.link : 'none') !== imported.sourceLink) return false
  if (link.file && !imported.sourceDescribed) return false
  if (!imported.metadataRecorded) return false
  if (!imported.files.has(path.posix.join(folder.relPath, 'metadata.json'))) return false
  const entries = listFolder(path.join(catalog.rootPath, folder.relPath))
  if (entries === null) return false
  for (const entry of entries) {
    if (isStrayName(entry.name) || entry.isDirectory()) continue
    if (!imported.files.has(path.posix.join(folder.relPath, entry.name))) return false
  }
  for (const rel of imported.files) if (!catalog.isUnchanged(rel)) return false
  return true
}

/** The folder's entries, or null when it cannot be listed. Synchronous, like the lstat of each file after it. */
function listFolder(folder: string): Dirent[] | null {
  try {
    return readdirSync(folder, {withFileTypes: true})
  } catch {
    return null
  }
}

/** A skipped recording counts as the re-read would have: every row it has, unchanged. */
export function countUnchangedRecording(session: ImportSession, imported: ImportedRecording): void {
  const unchanged = (n: number) => ({inserted: 0, updated: 0, unchanged: n, deleted: 0})
  session.addCounts('files', unchanged(imported.files.size))
  session.addCounts('source_imports', unchanged(1))
  if (imported.sourceAudioId) session.addCounts('source_audio', unchanged(1))
  session.addCounts('recordings', unchanged(1))
  session.addCounts('stems', unchanged(imported.stems))
}
