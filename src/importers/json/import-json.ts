import type {Dirent} from 'node:fs'
import {readdir, readFile, realpath} from 'node:fs/promises'
import path from 'node:path'
import type {Kysely} from 'kysely'
import {YAMLError} from 'yaml'
import {pgCode} from '../../db/connection.js'
import {contentHash, deterministicId} from '../../db/deterministic-id.js'
import {MIGRATIONS} from '../../db/migrations.js'
import {assertSchemaCurrent} from '../../db/migrator.js'
import type {Database} from '../../db/schema.js'
import {deleteStaleRows, type UpsertCounts, upsertRows} from '../../db/upsert-rows.js'
import {isAedbError} from '../../errors.js'
import {FileCatalog, type FileRecord, upsertFiles} from '../../files/file-catalog.js'
import {mapConcurrent} from '../../files/map-concurrent.js'
import {AUDIO_EXTENSIONS} from '../../files/probe-audio.js'
import {type ImportResult, ImportSession, type ImportWarning, type UnitContext} from '../import-session.js'
import {checkAudioIntegrity} from './audio-integrity.js'
import {
  discoverStemsetTrees,
  isStrayName,
  type ProfileFolder,
  type RecordingFolder,
  type StemsetTree,
} from './discover-stemset-trees.js'
import {folderHashSuffix} from './legacy-output-name.js'
import {linkSource, type SourceFile} from './link-source.js'
import {pathKey} from './metadata-layout.js'
import {type ReadRecording, RecordingRejected, readRecording} from './read-recording.js'
import {type ConfigProfile, readStemsetConfig} from './stemset-config.js'
import {JsonSyntaxError, type JsonValue, parseTolerantJson} from './tolerant-json.js'

export interface ImportJsonProgress {
  done: number
  total: number
  /** The recording folder just finished, relative to its tree's root. */
  recording: string
}

export interface ImportJsonProps {
  db: Kysely<Database>
  /** Folders holding config.yaml and media/, media/ folders, profile folders or recording folders. */
  paths: readonly string[]
  /** Recordings read (hashed, probed) and written at once. */
  jobs?: number
  /** Do everything in a transaction that is rolled back; report what would change. */
  dryRun?: boolean
  /** Stop starting new recordings once this many inputs were rejected. */
  maxErrors?: number
  argv?: readonly string[]
  version?: string
  onProgress?: (progress: ImportJsonProgress) => void
  onWarning?: (warning: ImportWarning) => void
}

/** Bumped when the same files would be read into different rows. */
export const JSON_PARSER_VERSION = '1'

const HASH_INDEX = '.processed_hashes.json'
const SHA256 = /^[0-9a-f]{64}$/

interface ProfilePlan {
  name: string
  folder: ProfileFolder | null
  config: ConfigProfile | null
  sources: SourceFile[]
  processed: Map<string, string[]>
  /** Hashes `.processed_hashes.json` maps to folders (NFC folder name -> hashes). */
  indexFile: FileRecord | null
}

/**
 * Imports stemset media trees (spec: formats/stemset-json.md): profiles from config.yaml and media/<profile>/,
 * one recording per output folder, its stems, and the source audio each came from, with every referenced file
 * hashed and probed. One recording is all-or-nothing; unchanged rows are not touched, so a re-run changes nothing.
 */
export async function importJson(props: ImportJsonProps): Promise<ImportResult> {
  await assertSchemaCurrent(props.db, MIGRATIONS)
  const discovered = await discoverStemsetTrees(props.paths)
  const session = await ImportSession.start({
    db: props.db,
    command: 'import-json',
    argv: props.argv ?? props.paths,
    version: props.version ?? '0.0.0',
    dryRun: props.dryRun ?? false,
    ...(props.onWarning ? {onWarning: props.onWarning} : {}),
  })
  try {
    for (const warning of discovered.warnings) session.warn(warning)
    const total = discovered.trees.reduce(
      (n, t) => n + t.profiles.reduce((m, p) => m + p.recordings.length, 0),
      0,
    )
    const progress = {done: 0, total}
    for (const tree of discovered.trees) await importTree(session, tree, props, progress)
    return await session.finish()
  } catch (error) {
    await session.abort()
    throw error
  }
}

async function importTree(
  session: ImportSession,
  tree: StemsetTree,
  props: ImportJsonProps,
  progress: {done: number; total: number},
): Promise<void> {
  const jobs = Math.max(1, props.jobs ?? 4)
  const catalog = new FileCatalog(tree.rootPath)
  await catalog.load(session.db)
  const realRoot = await realpath(tree.rootPath)

  // config.yaml: profiles, their source folders and formats.
  let configFile: FileRecord | null = null
  let configProfiles: ConfigProfile[] | null = null
  if (tree.configRel) {
    try {
      configFile = await catalog.describe(tree.configRel, 'config', {probe: false})
      const parsed = readStemsetConfig(await readFile(path.join(tree.rootPath, tree.configRel), 'utf8'))
      configProfiles = parsed.profiles
      for (const problem of parsed.problems) {
        session.reject({
          file: tree.configRel,
          sheet: null,
          row: null,
          column: problem.path,
          code: 'INVALID_CONFIG',
          message: `${tree.configRel} > ${problem.path}: ${problem.message}.`,
        })
      }
    } catch (error) {
      if (!isFileError(error) && !(error instanceof YAMLError)) throw error
      session.reject({
        file: tree.configRel,
        sheet: null,
        row: null,
        column: null,
        code: error instanceof YAMLError ? 'INVALID_CONFIG' : fileErrorCode(error),
        message: `${tree.configRel} could not be read: ${firstLine(error)}; profiles come from media/ folders only.`,
      })
      configProfiles = null
    }
  }

  // Which profiles: those with folders (as selected), plus config-only ones when the whole tree was asked for.
  const plans: ProfilePlan[] = []
  for (const folder of tree.profiles) {
    const config = configProfiles?.find((p) => p.name === folder.name) ?? null
    if (configProfiles && !config) {
      session.warn({
        file: folder.relPath,
        code: 'PROFILE_NOT_IN_CONFIG',
        message: `profile folder ${folder.relPath} is not in ${tree.configRel}; imported as a profile without configuration.`,
      })
    }
    plans.push({name: folder.name, folder, config, sources: [], processed: new Map(), indexFile: null})
  }
  if (tree.whole) {
    for (const config of configProfiles ?? []) {
      if (!plans.some((p) => p.name === config.name))
        plans.push({
          name: config.name,
          folder: null,
          config,
          sources: [],
          processed: new Map(),
          indexFile: null,
        })
    }
  }

  // Source folders and hash indexes first: recordings link to what they find.
  const knownHashes = new Set<string>()
  for (const plan of plans) {
    plan.sources = await hashSourceFolder(session, catalog, realRoot, plan, jobs)
    for (const s of plan.sources) knownHashes.add(s.record.sha256)
    if (plan.folder) {
      await readHashIndex(session, catalog, plan)
      await warnAboutUnmadeFolders(session, catalog, plan)
    }
    for (const hashes of plan.processed.values()) for (const h of hashes) knownHashes.add(h)
  }
  const suffixes = tree.profiles
    .flatMap((p) => p.recordings.map((r) => folderHashSuffix(r.folderName)))
    .filter((s): s is string => s !== null)
  if (suffixes.length > 0) {
    const rows = await session.db
      .selectFrom('source_audio')
      .select('sha256')
      .where((eb) =>
        eb(eb.fn<string>('substr', ['sha256', eb.val(1), eb.val(8)]), 'in', [...new Set(suffixes)]),
      )
      .execute()
    for (const row of rows) knownHashes.add(row.sha256)
  }

  for (const plan of plans) await writeProfile(session, catalog, plan, configFile, tree.configRel !== null)

  const rejectedBefore = () => session.rejected.length
  for (const plan of plans) {
    if (!plan.folder) continue
    const profileId = deterministicId('profile', plan.name)
    await mapConcurrent(plan.folder.recordings, jobs, async (folder) => {
      if (props.maxErrors !== undefined && rejectedBefore() >= props.maxErrors) {
        session.files.skipped++
        return
      }
      try {
        const read = await readRecording({catalog, folder, defaultFormat: plan.config?.outputFormat ?? null})
        if (read === null) {
          session.files.skipped++
          session.warn({
            file: folder.relPath,
            code: 'NOT_A_RECORDING',
            message: `${folder.relPath} has neither metadata.json nor stem audio files; ignored.`,
          })
          return
        }
        session.files.seen++
        const link = linkSource({
          folderName: folder.folderName,
          sources: plan.sources,
          processedHashes: plan.processed.get(folder.folderName) ?? [],
          knownHashes,
        })
        const changed = await session.unit((ctx) =>
          writeRecording(ctx, catalog, profileId, plan, folder, read, link),
        )
        if (changed) session.files.imported++
        else session.files.unchanged++
      } catch (error) {
        const rejection = asRejection(error, folder.relPath)
        if (!rejection) throw error
        session.files.seen += rejection.counted ? 0 : 1
        session.files.rejected++
        session.reject({
          file: rejection.file,
          sheet: null,
          row: null,
          column: rejection.column,
          code: rejection.code,
          message: rejection.message,
        })
      } finally {
        progress.done++
        props.onProgress?.({done: progress.done, total: progress.total, recording: folder.relPath})
      }
    })
  }
  if (
    props.maxErrors !== undefined &&
    session.rejected.length >= props.maxErrors &&
    session.files.skipped > 0
  ) {
    session.warn({
      file: tree.rootPath,
      code: 'MAX_ERRORS',
      message: `stopped after ${session.rejected.length} rejected input(s) (--max-errors ${props.maxErrors}); ${session.files.skipped} recording(s) not read.`,
    })
  }
}

/** Hashes and probes the audio files of a profile's source folder (recursive, dot-components skipped). */
async function hashSourceFolder(
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
      if (entry.isDirectory()) await walk(childRel)
      else if (entry.isFile() && AUDIO_EXTENSIONS.has(path.extname(entry.name).toLowerCase()))
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
        message: `source ${record.rel_path} (${record.size_bytes} bytes) could not be read as audio (${record.probe_error ?? 'no duration'}); hash and size kept, duration unknown.`,
      })
    }
    sources.push({fileName: found[i]!.name, record: record as SourceFile['record']})
  })
  return sources
}

/** `.processed_hashes.json`: source SHA-256 -> output folder name, written before processing (spec 3.1). */
async function readHashIndex(session: ImportSession, catalog: FileCatalog, plan: ProfilePlan): Promise<void> {
  const rel = path.join(plan.folder!.relPath, HASH_INDEX)
  let value: JsonValue
  try {
    const record = await catalog.describe(rel, 'hash_index', {probe: false})
    if (!record.present) return
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
async function warnAboutUnmadeFolders(
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

async function writeProfile(
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
    const row = withContentHash({
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
      count('profiles', await insertIfMissing(trx, 'profiles', 'name', row))
    }
    if (plan.indexFile) {
      const rows = [...plan.processed.entries()].flatMap(([folderName, hashes]) =>
        hashes.map((sha) =>
          withContentHash({
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
        ),
      )
      count(
        'processed_hashes',
        await upsertRows({db: trx, table: 'processed_hashes', rows, conflict: ['profile_id', 'sha256']}),
      )
      await deleteStaleRows({
        db: trx,
        table: 'processed_hashes',
        scope: {column: 'profile_id', value: profileId},
        keepIds: rows.map((r) => r.id),
      })
    }
  })
}

async function writeRecording(
  {trx, runId, count, warn}: UnitContext,
  catalog: FileCatalog,
  profileId: string,
  plan: ProfilePlan,
  folder: RecordingFolder,
  read: ReadRecording,
  link: ReturnType<typeof linkSource>,
): Promise<boolean> {
  const counts: UpsertCounts[] = []
  const tally = (table: string, c: UpsertCounts) => {
    count(table, c)
    counts.push(c)
  }
  tally('files', await upsertFiles(trx, catalog.rootPath, read.files, runId))

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
        : await insertIfMissing(trx, 'source_audio', 'sha256', row),
    )
  }
  const folderName = folder.folderName
  const recordingId = deterministicId('recording', plan.name, folderName)
  for (const message of link.warnings)
    warn({file: folder.relPath, code: 'SOURCE_CHANGED', message: `${folder.relPath}: ${message}.`})
  const recording = withContentHash({
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
    withContentHash({
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
  for (const warning of read.warnings) warn(warning)
  return deleted > 0 || counts.some((c) => c.inserted + c.updated > 0)
}

/** Batched `insert … on conflict do nothing`: for rows that may only add to what is there. */
async function insertIfMissing(
  db: Kysely<Database>,
  table: 'profiles' | 'source_audio',
  key: 'name' | 'sha256',
  row: Record<string, unknown>,
): Promise<UpsertCounts> {
  const values = {...row, ...('extra' in row ? {extra: JSON.stringify(row.extra)} : {})}
  const inserted = await db
    .insertInto(table)
    // biome-ignore lint/suspicious/noExplicitAny: one row of either table, built from the schema's columns above.
    .values(values as any)
    .onConflict((oc) => oc.column(key).doNothing())
    .returning('id')
    .execute()
  return {inserted: inserted.length, updated: 0, unchanged: 1 - inserted.length}
}

function withContentHash<T extends Record<string, unknown>>(row: T): T & {content_hash: string} {
  const {run_id: _run, ...content} = row
  return {...row, content_hash: contentHash(content)}
}

/**
 * A recording that cannot be imported (bad JSON or shape, an escaping path) or that the database refused (a value
 * a CHECK constraint rejects): reported, and the run goes on. Anything else is a bug or an outage and ends the run.
 */
function asRejection(
  error: unknown,
  folderRel: string,
): {file: string; column: string | null; code: string; message: string; counted: boolean} | null {
  if (error instanceof RecordingRejected)
    return {file: error.file, column: error.column, code: error.code, message: error.message, counted: false}
  if (isFileError(error)) {
    return {
      file: folderRel,
      column: null,
      code: fileErrorCode(error),
      message: `${folderRel}: ${firstLine(error)}; the recording is rejected.`,
      counted: false,
    }
  }
  const code = pgCode(error)
  if (code && (code.startsWith('22') || code === '23514' || code === '23502')) {
    return {
      file: folderRel,
      column: null,
      code: 'REFUSED_BY_DATABASE',
      message: `${folderRel}: the database refused a value: ${firstLine(error)}.`,
      counted: true,
    }
  }
  return null
}

/** An error of the filesystem (permissions, I/O, a file vanishing mid-run) or FileCatalog's path refusal. */
function isFileError(error: unknown): error is Error {
  return (
    (isAedbError(error) && error.code === 'PATH_ESCAPE') ||
    (error instanceof Error && typeof (error as {syscall?: unknown}).syscall === 'string')
  )
}

function fileErrorCode(error: Error): string {
  return isAedbError(error) ? error.code : 'READ_ERROR'
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0]!
}
