import type {Dirent} from 'node:fs'
import {lstat, readdir, readFile} from 'node:fs/promises'
import path from 'node:path'
import type {FileCatalog, FileRecord} from '../../files/file-catalog.js'
import {probeAudio} from '../../files/probe-audio.js'
import {checkAudioIntegrity} from './audio-integrity.js'
import {isStrayName, type RecordingFolder} from './discover-stemset-trees.js'
import {isUrlReference, PathEscapeError, resolveInFolder} from './folder-paths.js'
import {type MetadataLayout, MetadataShapeError, parseMetadata, type StemEntry} from './metadata-layout.js'
import {JsonSyntaxError, type JsonValue, parseTolerantJson} from './tolerant-json.js'

/** A stem with its files described (hashed, probed). */
export interface ReadStem {
  entry: StemEntry
  stemType: string
  file: FileRecord
  waveformUrl: string | null
  waveformFile: FileRecord | null
}

export interface ReadRecording {
  layout: MetadataLayout
  displayName: string | null
  metadataFile: FileRecord | null
  extra: Record<string, JsonValue>
  stems: ReadStem[]
  /** Every file described, for the files table. */
  files: FileRecord[]
  warnings: Array<{file: string; code: string; message: string}>
}

/** Why a recording cannot be imported: where (`column` = JSON path) and what was wrong. */
export class RecordingRejected extends Error {
  /** Further problems of the same recording found in the same pass (every escaping path, not only the first). */
  others: RecordingRejected[] = []

  constructor(
    readonly file: string,
    readonly column: string | null,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'RecordingRejected'
  }
}

const STEM_EXTENSIONS = ['opus', 'wav', 'aac'] as const
const LOUDNESS_KEYS = ['measured_lufs', 'target_lufs', 'peak_amplitude', 'stem_gain_adjustment_db'] as const
const UTF8 = new TextDecoder('utf-8', {fatal: true})

export interface ReadRecordingProps {
  catalog: FileCatalog
  folder: RecordingFolder
  /** The profile's configured format: the name recorded for a stem that is missing in every format. */
  defaultFormat: string | null
}

/**
 * Reads one recording folder: metadata.json in any layout (or, without one, the stem files and the loudness JSON
 * the earliest versions kept in their comment tags), every stem and waveform file hashed and probed. Throws
 * RecordingRejected for invalid JSON, unknown shapes and paths that leave the folder; nothing outside is opened.
 */
export async function readRecording(props: ReadRecordingProps): Promise<ReadRecording | null> {
  const {catalog, folder} = props
  const folderAbs = path.join(catalog.rootPath, folder.relPath)
  const metadataRel = path.join(folder.relPath, 'metadata.json')
  const warnings: ReadRecording['warnings'] = []
  const files: FileRecord[] = []
  // Only "not there" means no metadata.json: a folder aedb may not read is rejected as unreadable (EACCES), not
  // reported as a folder without metadata.json or stems.
  const hasMetadata = await lstat(path.join(folderAbs, 'metadata.json')).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return false
      throw error
    },
  )

  let layout: MetadataLayout = 'none'
  let displayName: string | null = null
  let extra: Record<string, JsonValue> = {}
  let entries: StemEntry[]
  let metadataFile: FileRecord | null = null
  if (hasMetadata) {
    await checked(metadataRel, 'metadata.json', () =>
      resolveInFolder(folderAbs, folder.relPath, 'metadata.json'),
    )
    metadataFile = await catalog.describe(metadataRel, 'metadata_json', {probe: false})
    if (metadataFile.sha256 === null) {
      throw new RecordingRejected(
        metadataRel,
        null,
        'NOT_A_FILE',
        `${metadataRel} is not a regular file (a directory, FIFO or device); nothing was read.`,
      )
    }
    files.push(metadataFile)
    let value: JsonValue
    try {
      value = parseTolerantJson(UTF8.decode(await readFile(path.join(folderAbs, 'metadata.json'))))
    } catch (error) {
      if (error instanceof JsonSyntaxError) {
        throw new RecordingRejected(
          metadataRel,
          null,
          'INVALID_JSON',
          `${metadataRel} is not valid JSON: ${error.message}.`,
        )
      }
      if (error instanceof TypeError) {
        throw new RecordingRejected(metadataRel, null, 'INVALID_JSON', `${metadataRel} is not UTF-8 text.`)
      }
      throw error
    }
    try {
      const parsed = parseMetadata(value)
      ;({layout, displayName, extra} = parsed)
      entries = parsed.stems
    } catch (error) {
      if (!(error instanceof MetadataShapeError)) throw error
      throw new RecordingRejected(
        metadataRel,
        error.path || null,
        'INVALID_METADATA',
        `${metadataRel} > ${error.path || '(top level)'}: ${error.reason}; expected a stemset metadata.json (spec section 2).`,
      )
    }
  } else {
    entries = await stemsFromFiles(folderAbs)
    if (entries.length === 0) return null
    warnings.push({
      file: folder.relPath,
      code: 'NO_METADATA_JSON',
      message: `${folder.relPath} has no metadata.json (earliest era); imported from its ${entries.length} stem file(s).`,
    })
  }

  if (hasMetadata) await refuseEscapingPaths(entries, metadataRel, folderAbs, folder.relPath)
  const stems: ReadStem[] = []
  const seenTypes = new Map<string, string>()
  for (const entry of entries) {
    const source = hasMetadata ? metadataRel : folder.relPath
    const stemType = entry.key.normalize('NFC')
    if (seenTypes.has(stemType)) {
      throw new RecordingRejected(
        source,
        entry.path,
        'DUPLICATE_STEM',
        `${source} > ${entry.path}: stem ${JSON.stringify(stemType)} is listed twice (${seenTypes.get(stemType)}).`,
      )
    }
    seenTypes.set(stemType, entry.path)
    const stemRel = await locateStem(entry, source, folderAbs, folder.relPath, props.defaultFormat)
    const file = await checkAudioIntegrity(
      await catalog.describe(stemRel, 'audio', {probe: true}),
      path.join(catalog.rootPath, stemRel),
    )
    files.push(file)
    if (!file.present) {
      warnings.push({
        file: file.rel_path,
        code: 'STEM_MISSING',
        message: `stem ${JSON.stringify(stemType)} of ${folder.relPath} is listed but ${file.rel_path} does not exist; imported with an absent file.`,
      })
    } else if (file.duration_s === null) {
      warnings.push({
        file: file.rel_path,
        code: 'AUDIO_UNREADABLE',
        message: `${file.rel_path} (${file.size_bytes ?? '?'} bytes) could not be read as audio (${file.probe_error ?? 'no duration'}); hash and size kept, duration unknown.`,
      })
    }
    if (!hasMetadata && file.sha256 !== null)
      await recoverLoudness(entry, path.join(catalog.rootPath, stemRel))

    let waveformUrl = entry.waveformUrl
    let waveformRel: string | null = null
    if (waveformUrl !== null && !isUrlReference(waveformUrl)) {
      waveformRel = await checked(source, `${entry.path}.waveform_url`, () =>
        resolveInFolder(folderAbs, folder.relPath, waveformUrl!),
      )
    } else {
      // API-route waveforms are URLs; the PNG they served sits next to the stems under its conventional name.
      const conventional = `${entry.key}_waveform.png`
      const exists = await lstat(path.join(folderAbs, conventional)).then(
        () => true,
        () => false,
      )
      if (exists)
        waveformRel = await checked(source, entry.path, () =>
          resolveInFolder(folderAbs, folder.relPath, conventional),
        )
    }
    let waveformFile: FileRecord | null = null
    if (waveformRel !== null) {
      waveformFile = await catalog.describe(waveformRel, 'waveform', {probe: false})
      files.push(waveformFile)
      if (!waveformFile.present) {
        warnings.push({
          file: waveformFile.rel_path,
          code: 'WAVEFORM_MISSING',
          message: `waveform ${waveformFile.rel_path} of stem ${JSON.stringify(stemType)} does not exist.`,
        })
      }
    }
    if (waveformUrl === '') waveformUrl = null
    stems.push({entry, stemType, file, waveformUrl, waveformFile})
  }
  if (stems.length === 0) {
    warnings.push({
      file: metadataRel,
      code: 'NO_STEMS',
      message: `${metadataRel} lists no stems; the recording is imported without any.`,
    })
  }
  return {layout, displayName, metadataFile, extra, stems, files, warnings}
}

/** The stem's file: `stem_url` when written, else `<key>.opus`, `.wav`, `.aac` (first that exists). */
async function locateStem(
  entry: StemEntry,
  source: string,
  folderAbs: string,
  folderRel: string,
  defaultFormat: string | null,
): Promise<string> {
  if (entry.stemUrl !== null) {
    return checked(source, `${entry.path}.stem_url`, () =>
      resolveInFolder(folderAbs, folderRel, entry.stemUrl!),
    )
  }
  if (!isFileName(entry.key)) throw badStemName(entry, source)
  for (const extension of STEM_EXTENSIONS) {
    const name = `${entry.key}.${extension}`
    const exists = await lstat(path.join(folderAbs, name)).then(
      () => true,
      () => false,
    )
    if (exists) return checked(source, entry.path, () => resolveInFolder(folderAbs, folderRel, name))
  }
  const format = STEM_EXTENSIONS.find((e) => e === defaultFormat) ?? 'opus'
  return path.join(folderRel, `${entry.key}.${format}`)
}

function isFileName(key: string): boolean {
  return !/[\\/]/.test(key) && key !== '.' && key !== '..' && key !== ''
}

function badStemName(entry: StemEntry, source: string): RecordingRejected {
  return new RecordingRejected(
    source,
    entry.path,
    'PATH_ESCAPE',
    `${source} > ${entry.path}: the stem name ${JSON.stringify(entry.key)} cannot be a file name (it would be opened as a path); nothing was opened.`,
  )
}

/**
 * Every path of a metadata.json that would leave the recording folder (stem_url, waveform_url, a stem name used as
 * a file name), all named in one rejection before any stem is opened; nothing is thrown when there is none.
 */
async function refuseEscapingPaths(
  entries: readonly StemEntry[],
  source: string,
  folderAbs: string,
  folderRel: string,
): Promise<void> {
  const problems: RecordingRejected[] = []
  const check = async (column: string, value: string) => {
    try {
      await checked(source, column, () => resolveInFolder(folderAbs, folderRel, value))
    } catch (error) {
      if (!(error instanceof RecordingRejected)) throw error
      problems.push(error)
    }
  }
  for (const entry of entries) {
    if (entry.stemUrl !== null) await check(`${entry.path}.stem_url`, entry.stemUrl)
    else if (!isFileName(entry.key)) problems.push(badStemName(entry, source))
    if (entry.waveformUrl !== null && !isUrlReference(entry.waveformUrl))
      await check(`${entry.path}.waveform_url`, entry.waveformUrl)
  }
  const [first, ...others] = problems
  if (!first) return
  first.others = others
  throw first
}

async function checked(file: string, column: string, fn: () => Promise<string>): Promise<string> {
  try {
    return await fn()
  } catch (error) {
    if (!(error instanceof PathEscapeError)) throw error
    throw new RecordingRejected(
      file,
      column,
      'PATH_ESCAPE',
      `${file} > ${column}: ${error.message}; the recording is rejected and nothing there was opened.`,
    )
  }
}

/** Stems of a folder without metadata.json: one per audio file name (`vocals.wav`, `drums.opus`, …). */
async function stemsFromFiles(folderAbs: string): Promise<StemEntry[]> {
  const entries = await readdir(folderAbs, {withFileTypes: true}).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as Dirent[]
    throw error
  })
  const keys = new Set<string>()
  for (const entry of entries) {
    if (isStrayName(entry.name) || entry.isDirectory()) continue
    const match = /^(.+)\.(opus|wav|aac)$/.exec(entry.name)
    if (match) keys.add(match[1]!)
  }
  return [...keys].sort().map((key) => ({
    key,
    path: key,
    stemUrl: null,
    waveformUrl: null,
    measuredLufs: null,
    targetLufs: null,
    peakAmplitude: null,
    gainDb: null,
    extra: {},
  }))
}

/** The earliest versions wrote the stem's loudness JSON into the audio file's comment tag. */
async function recoverLoudness(entry: StemEntry, absolute: string): Promise<void> {
  const probe = await probeAudio(absolute)
  for (const comment of probe.comments) {
    let value: JsonValue
    try {
      value = parseTolerantJson(comment)
    } catch {
      continue
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) continue
    const number = (v: JsonValue | undefined) => (typeof v === 'number' ? v : null)
    entry.measuredLufs = number(value.measured_lufs)
    entry.targetLufs = number(value.target_lufs)
    entry.peakAmplitude = number(value.peak_amplitude)
    entry.gainDb = number(value.stem_gain_adjustment_db)
    for (const [key, v] of Object.entries(value)) {
      if (!(LOUDNESS_KEYS as readonly string[]).includes(key) && !(key === 'stem_type' && v === entry.key))
        entry.extra[key] = v
    }
    return
  }
}
