import type {Dirent} from 'node:fs'
import {readdir, readFile, realpath} from 'node:fs/promises'
import path from 'node:path'
import type {FileCatalog, FileRecord} from '../../files/file-catalog.js'
import {mapConcurrent} from '../../files/map-concurrent.js'
import {AUDIO_EXTENSIONS} from '../../files/probe-audio.js'
import type {ImportSession} from '../import-session.js'
import {checkAudioIntegrity} from './audio-integrity.js'
import {isStrayName, type ProfileFolder} from './discover-stemset-trees.js'
import {assertReadable, fileErrorCode, firstLine, isFileError} from './file-errors.js'
import type {SourceFile} from './link-source.js'
import {pathKey} from './metadata-layout.js'
import type {ConfigProfile} from './stemset-config.js'
import {JsonSyntaxError, type JsonValue, parseTolerantJson} from './tolerant-json.js'

const HASH_INDEX = '.processed_hashes.json'
const SHA256 = /^[0-9a-f]{64}$/

/** What one profile brings: its folder, its config.yaml entry, its hashed source files and its hash index. */
export interface ProfilePlan {
  name: string
  folder: ProfileFolder | null
  config: ConfigProfile | null
  sources: SourceFile[]
  processed: Map<string, string[]>
  /** Hashes `.processed_hashes.json` maps to folders (NFC folder name -> hashes). */
  indexFile: FileRecord | null
}

/** Hashes and probes the audio files of a profile's source folder (recursive, dot-components skipped). */
export async function hashSourceFolder(
  session: ImportSession,
  catalog: FileCatalog,
  realRoot: string,
  plan: ProfilePlan,
  jobs: number,
): Promise<SourceFile[]> {
  const configured = plan.config?.sourceFolder
  if (!configured) return []
  const warn = (message: string) =>
    session.warn({
      file: 'config.yaml',
      code: 'SOURCE_FOLDER_UNREADABLE',
      message: `profile ${JSON.stringify(plan.name)}: ${message}; its recordings are linked through .processed_hashes.json and folder suffixes only.`,
    })
  if (configured.includes('${') || configured.startsWith('~')) {
    warn(`source_folder ${JSON.stringify(configured)} needs expansion aedb does not do`)
    return []
  }
  const absolute = path.resolve(catalog.rootPath, configured)
  const rel = path.relative(catalog.rootPath, absolute)
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    warn(`source_folder ${JSON.stringify(configured)} is outside the imported tree, which aedb never reads`)
    return []
  }
  const real = await realpath(absolute).catch(() => null)
  if (real === null) {
    warn(`source_folder ${JSON.stringify(configured)} does not exist`)
    return []
  }
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
    warn(
      `source_folder ${JSON.stringify(configured)} leads outside the imported tree through a symbolic link`,
    )
    return []
  }
  const found: Array<{rel: string; name: string}> = []
  const walk = async (dirRel: string) => {
    const entries = await readdir(path.join(catalog.rootPath, dirRel), {withFileTypes: true}).catch(
      () => [] as Dirent[],
    )
    for (const entry of entries) {
      if (isStrayName(entry.name) || entry.isSymbolicLink()) continue
      const childRel = dirRel === '' ? entry.name : path.join(dirRel, entry.name)
      // A source folder of `.` would otherwise take every stem for a source.
      if (entry.isDirectory()) {
        if (childRel !== 'media') await walk(childRel)
      } else if (entry.isFile() && AUDIO_EXTENSIONS.has(path.extname(entry.name).toLowerCase()))
        found.push({rel: childRel, name: entry.name})
    }
  }
  await walk(rel)
  found.sort((a, b) => (a.rel < b.rel ? -1 : 1))
  const records = await mapConcurrent(found, jobs, async (f) => {
    try {
      return await checkAudioIntegrity(
        await catalog.describe(f.rel, 'audio'),
        path.join(catalog.rootPath, f.rel),
      )
    } catch (error) {
      if (!isFileError(error)) throw error
      session.warn({
        file: f.rel,
        code: 'SOURCE_UNREADABLE',
        message: `source ${f.rel} could not be read (${firstLine(error)}); not used for linking.`,
      })
      return null
    }
  })
  const sources: SourceFile[] = []
  records.forEach((record, i) => {
    if (!record?.present || !record.sha256) return
    if (record.duration_s === null) {
      session.warn({
        file: record.rel_path,
        code: 'AUDIO_UNREADABLE',
        message: `source ${record.rel_path} (${record.size_bytes ?? '?'} bytes) could not be read as audio (${record.probe_error ?? 'no duration'}); hash and size kept, duration unknown.`,
      })
    }
    sources.push({fileName: found[i]!.name, record: record as SourceFile['record']})
  })
  return sources
}

/** `.processed_hashes.json`: source SHA-256 -> output folder name, written before processing (spec 3.1). */
export async function readHashIndex(
  session: ImportSession,
  catalog: FileCatalog,
  plan: ProfilePlan,
): Promise<void> {
  const rel = path.join(plan.folder!.relPath, HASH_INDEX)
  let value: JsonValue
  try {
    const record = await catalog.describe(rel, 'hash_index', {probe: false})
    if (!record.present) return
    assertReadable(record)
    value = parseTolerantJson(await readFile(path.join(catalog.rootPath, rel), 'utf8'))
    plan.indexFile = record
  } catch (error) {
    if (isFileError(error)) {
      session.reject({
        file: rel,
        sheet: null,
        row: null,
        column: null,
        code: fileErrorCode(error),
        message: `${rel} could not be read: ${firstLine(error)}; its entries are not used.`,
      })
      return
    }
    if (!(error instanceof JsonSyntaxError)) throw error
    session.reject({
      file: rel,
      sheet: null,
      row: null,
      column: null,
      code: 'INVALID_JSON',
      message: `${rel} is not valid JSON: ${error.message}; its entries are not used.`,
    })
    return
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    session.reject({
      file: rel,
      sheet: null,
      row: null,
      column: null,
      code: 'INVALID_HASH_INDEX',
      message: `${rel} should be an object of sha256 -> folder name.`,
    })
    return
  }
  for (const [key, folder] of Object.entries(value)) {
    const sha = key.toLowerCase()
    if (!SHA256.test(sha) || typeof folder !== 'string' || folder === '') {
      session.warn({
        file: rel,
        code: 'INVALID_HASH_ENTRY',
        message: `${rel} > ${pathKey(key)}: expected a 64-hex SHA-256 key and a folder name; entry ignored.`,
      })
      continue
    }
    const name = folder.normalize('NFC')
    plan.processed.set(name, [...(plan.processed.get(name) ?? []), sha])
  }
}

/** Index entries are written before processing (spec 3.1): one without a folder is a source that never made it. */
export async function warnAboutUnmadeFolders(
  session: ImportSession,
  catalog: FileCatalog,
  plan: ProfilePlan,
): Promise<void> {
  if (plan.processed.size === 0) return
  const entries = await readdir(path.join(catalog.rootPath, plan.folder!.relPath)).catch(() => [] as string[])
  const onDisk = new Set(entries.map((name) => name.normalize('NFC')))
  const index = path.join(plan.folder!.relPath, HASH_INDEX)
  for (const [folderName, hashes] of plan.processed) {
    if (onDisk.has(folderName)) continue
    const sources = hashes.map(
      (h) => plan.sources.find((s) => s.record.sha256 === h)?.record.rel_path ?? `${h.slice(0, 12)}…`,
    )
    session.warn({
      file: index,
      code: 'INDEX_ENTRY_WITHOUT_FOLDER',
      message: `${index} maps ${sources.join(', ')} to ${folderName}, which does not exist (processing failed or the folder was removed); the entry is kept.`,
    })
  }
}
