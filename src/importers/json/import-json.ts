import {readFile, realpath} from 'node:fs/promises'
import path from 'node:path'
import type {Kysely} from 'kysely'
import {YAMLError} from 'yaml'
import {pgCode} from '../../db/connection.js'
import {deterministicId} from '../../db/deterministic-id.js'
import {MIGRATIONS} from '../../db/migrations.js'
import {assertSchemaCurrent} from '../../db/migrator.js'
import type {Database} from '../../db/schema.js'
import {FileCatalog, type FileRecord} from '../../files/file-catalog.js'
import {mapConcurrent} from '../../files/map-concurrent.js'
import {type ImportResult, ImportSession, type ImportWarning} from '../import-session.js'
import {refuseWorkbookTree} from '../refuse-other-kind-of-tree.js'
import {rootLabel} from '../root-label.js'
import {discoverStemsetTrees, type RecordingFolder, type StemsetTree} from './discover-stemset-trees.js'
import {assertReadable, fileErrorCode, firstLine, isFileError} from './file-errors.js'
import {folderHashSuffix} from './legacy-output-name.js'
import {linkSource} from './link-source.js'
import {hashSourceFolder, type ProfilePlan, readHashIndex, warnAboutUnmadeFolders} from './profile-sources.js'
import {RecordingRejected, readRecording} from './read-recording.js'
import {type ConfigProfile, ConfigUnreadableError, readStemsetConfig} from './stemset-config.js'
import {
  countUnchangedRecording,
  type ImportedRecording,
  importedKey,
  isRecordingUnchanged,
  loadImportedRecordings,
} from './unchanged-recordings.js'
import {writeProfile, writeRecording} from './write-stemset-rows.js'

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
  /** Stops the run between recordings: the one in flight commits or rolls back, no other starts. */
  signal?: AbortSignal
}

/**
 * Imports stemset media trees (spec: formats/stemset-json.md): profiles from config.yaml and media/<profile>/,
 * one recording per output folder, its stems, and the source audio each came from, with every referenced file
 * hashed and probed. One recording is all-or-nothing; unchanged rows are not touched, so a re-run changes nothing.
 */
export async function importJson(props: ImportJsonProps): Promise<ImportResult> {
  await assertSchemaCurrent(props.db, MIGRATIONS)
  const discovered = await discoverStemsetTrees(props.paths)
  await refuseWorkbookTree(props.paths)
  const session = await ImportSession.start({
    db: props.db,
    command: 'import-json',
    argv: props.argv ?? props.paths,
    version: props.version ?? '0.0.0',
    dryRun: props.dryRun ?? false,
    ...(props.onWarning ? {onWarning: props.onWarning} : {}),
    ...(props.signal ? {signal: props.signal} : {}),
  })
  try {
    for (const warning of discovered.warnings) session.warn(warning)
    const total = discovered.trees.reduce(
      (n, t) => n + t.profiles.reduce((m, p) => m + p.recordings.length, 0),
      0,
    )
    const progress = {done: 0, total}
    for (const tree of discovered.trees) {
      session.fileLabel = discovered.trees.length > 1 ? `${rootLabel(tree.rootPath, props.paths)}/` : ''
      if (!session.stopping) await importTree(session, tree, props, progress)
    }
    session.fileLabel = ''
    if (session.files.seen === 0 && !session.stopping) {
      session.warn({
        file: props.paths.join(', '),
        code: 'NO_RECORDINGS_FOUND',
        message:
          'no recordings found; expected the folder holding config.yaml and media/<profile>/<recording>/ (metadata.json or stem audio)',
      })
    }
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
      assertReadable(configFile)
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
      const invalid = error instanceof YAMLError || error instanceof ConfigUnreadableError
      if (!isFileError(error) && !invalid) throw error
      session.reject({
        file: tree.configRel,
        sheet: null,
        row: null,
        column: null,
        code: invalid ? 'INVALID_CONFIG' : fileErrorCode(error),
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

  for (const plan of plans) await writeProfile(session, catalog, plan, configFile, configProfiles !== null)
  if (tree.whole) await warnAboutVanishedRecordings(session, plans)

  const rejectedBefore = () => session.rejected.length
  let notStarted = 0
  const imported = await loadImportedRecordings(
    session.db,
    catalog.rootId,
    plans.filter((p) => p.folder).map((p) => deterministicId('profile', p.name)),
  )
  for (const plan of plans) {
    if (!plan.folder) continue
    await mapConcurrent(plan.folder.recordings, jobs, async (folder) => {
      if (session.stopping) return
      if (props.maxErrors !== undefined && rejectedBefore() >= props.maxErrors) {
        session.files.skipped++
        notStarted++
        return
      }
      try {
        await importRecording({session, catalog, plan, folder, knownHashes, imported})
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
        for (const more of error instanceof RecordingRejected ? error.others : []) {
          session.reject({
            file: more.file,
            sheet: null,
            row: null,
            column: more.column,
            code: more.code,
            message: more.message,
          })
        }
      } finally {
        progress.done++
        props.onProgress?.({done: progress.done, total: progress.total, recording: folder.relPath})
      }
    })
  }
  if (notStarted > 0) {
    session.warn({
      file: tree.rootPath,
      code: 'MAX_ERRORS',
      message: `stopped after ${session.rejected.length} rejected input(s) (--max-errors ${props.maxErrors}); ${notStarted} recording(s) not read.`,
    })
  }
}

/** One recording folder: skipped when nothing it reads changed, else read and written all-or-nothing. */
async function importRecording(props: {
  session: ImportSession
  catalog: FileCatalog
  plan: ProfilePlan
  folder: RecordingFolder
  knownHashes: ReadonlySet<string>
  imported: ReadonlyMap<string, ImportedRecording>
}): Promise<void> {
  const {session, catalog, plan, folder} = props
  const profileId = deterministicId('profile', plan.name)
  const link = linkSource({
    folderName: folder.folderName,
    sources: plan.sources,
    processedHashes: plan.processed.get(folder.folderName) ?? [],
    knownHashes: props.knownHashes,
  })
  const before = props.imported.get(importedKey(profileId, folder.folderName))
  if (before && (await isRecordingUnchanged({catalog, folder, imported: before, link}))) {
    // Not hashed, parsed or written again; counted, and its source warnings given, as a re-read would.
    session.files.seen++
    session.files.unchanged++
    countUnchangedRecording(session, before)
    for (const message of link.warnings)
      session.warn({file: folder.relPath, code: 'SOURCE_CHANGED', message: `${folder.relPath}: ${message}.`})
    return
  }
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
  const changed = await session.unit((ctx) =>
    writeRecording(ctx, catalog, profileId, plan, folder, read, link),
  )
  if (changed) session.files.imported++
  else session.files.unchanged++
}

/** Recordings the database has but the tree no longer does are reported, never deleted: a tree may be partial. */
async function warnAboutVanishedRecordings(
  session: ImportSession,
  plans: readonly ProfilePlan[],
): Promise<void> {
  const byId = new Map(plans.filter((p) => p.folder).map((p) => [deterministicId('profile', p.name), p]))
  if (byId.size === 0) return
  const rows = await session.db
    .selectFrom('recordings')
    .select(['profile_id', 'folder_name'])
    .where('profile_id', 'in', [...byId.keys()])
    .execute()
  for (const row of rows) {
    const plan = byId.get(row.profile_id)!
    if (plan.folder!.recordings.some((r) => r.folderName === row.folder_name)) continue
    const where = `${plan.folder!.relPath}/${row.folder_name}`
    session.warn({
      file: where,
      code: 'RECORDING_NOT_ON_DISK',
      message: `${where} is in the database but no longer in the tree; its rows are kept.`,
    })
  }
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
  // 54xxx: a PostgreSQL limit (a jsonb value over 255 MB, an index row over 2 704 bytes) — this recording only.
  if (code && (code.startsWith('22') || code.startsWith('54') || code === '23514' || code === '23502')) {
    return {
      file: folderRel,
      column: null,
      code: 'REFUSED_BY_DATABASE',
      message: `${folderRel}: the database refused a value${code.startsWith('54') ? ' (over a PostgreSQL size limit)' : ''}: ${firstLine(error)}.`,
      counted: true,
    }
  }
  return null
}
