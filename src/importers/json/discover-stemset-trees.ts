import type {Dirent} from 'node:fs'
import {readdir, stat} from 'node:fs/promises'
import path from 'node:path'
import {AedbError, EXIT} from '../../errors.js'
import type {ImportWarning} from '../import-session.js'

export const STEMSET_PATHS_HINT = [
  'Give the folder holding config.yaml and media/, a media/ folder, or recording folders.',
]

/** One output folder = one recording. */
export interface RecordingFolder {
  /** The folder's name as on disk (used to open files). */
  dirName: string
  /** The same name in Unicode NFC (the recording's key). */
  folderName: string
  /** Path relative to the tree's root, as on disk. */
  relPath: string
}

export interface ProfileFolder {
  dirName: string
  name: string
  relPath: string
  recordings: RecordingFolder[]
}

/** One import root: the folder holding config.yaml and media/, or a bare media folder. */
export interface StemsetTree {
  rootPath: string
  /** `config.yaml` when the root has one. */
  configRel: string | null
  /** Profile folders found (all of them, or the ones the given paths selected). */
  profiles: ProfileFolder[]
  /** True when the whole tree was asked for (then config profiles without a media folder are imported too). */
  whole: boolean
}

export interface DiscoverStemsetTreesResult {
  trees: StemsetTree[]
  warnings: ImportWarning[]
}

const AUDIO = /\.(opus|wav|wave|aac)$/i
const IGNORED_FILES = new Set(['.DS_Store', 'Thumbs.db', 'desktop.ini'])

/** A name the legacy app never wrote and aedb never reads: hidden files, AppleDouble `._*` files, Finder litter. */
export function isStrayName(name: string): boolean {
  return name.startsWith('.') || IGNORED_FILES.has(name)
}

type Selection = 'all' | Map<string, 'all' | Set<string>>

/**
 * Finds what `aedb import-json <paths...>` should import. Each path may be the folder holding config.yaml and
 * media/, a media/ folder, a profile folder or a recording folder; all of them resolve to the same import root
 * (the folder with config.yaml when there is one), so files keep one identity however the tree was named.
 * Symbolic links inside media/ are not followed.
 */
export async function discoverStemsetTrees(paths: readonly string[]): Promise<DiscoverStemsetTreesResult> {
  const selections = new Map<string, {selection: Selection; hasConfig: boolean}>()
  const warnings: ImportWarning[] = []
  const select = (root: string, hasConfig: boolean, profile: string | null, recording: string | null) => {
    const entry = selections.get(root) ?? {selection: new Map(), hasConfig}
    selections.set(root, entry)
    if (entry.selection === 'all') return
    if (profile === null) {
      entry.selection = 'all'
      return
    }
    const current = entry.selection.get(profile)
    if (current === 'all') return
    if (recording === null) entry.selection.set(profile, 'all')
    else entry.selection.set(profile, (current ?? new Set()).add(recording))
  }

  for (const given of paths) {
    let target = path.resolve(given)
    const info = await stat(target).catch(() => null)
    if (!info) {
      throw new AedbError(`${given} does not exist.`, {
        code: 'PATH_NOT_FOUND',
        exit: EXIT.USAGE,
        suggestions: STEMSET_PATHS_HINT,
      })
    }
    if (info.isFile()) {
      if (path.basename(target) !== 'metadata.json') {
        throw new AedbError(
          `${given} is a file; import-json reads folders (or a recording's metadata.json).`,
          {
            code: 'NOT_A_TREE',
            exit: EXIT.USAGE,
            suggestions: [
              'Give the folder holding config.yaml and media/, a media/ folder, or recording folders.',
            ],
          },
        )
      }
      target = path.dirname(target)
    }
    const kind = await classifyFolder(target)
    if (kind === 'app') {
      select(target, await isFile(path.join(target, 'config.yaml')), null, null)
    } else if (kind === 'recording') {
      const profileDir = path.dirname(target)
      const {root, hasConfig} = await rootOfMedia(path.dirname(profileDir))
      select(root, hasConfig, path.basename(profileDir), path.basename(target))
    } else if (kind === 'profile') {
      const {root, hasConfig} = await rootOfMedia(path.dirname(target))
      select(root, hasConfig, path.basename(target), null)
    } else {
      const {root, hasConfig} = await rootOfMedia(target)
      select(root, hasConfig, null, null)
    }
  }

  const trees: StemsetTree[] = []
  for (const [rootPath, {selection, hasConfig}] of selections) {
    const mediaAbs =
      hasConfig || (await isDirectory(path.join(rootPath, 'media'))) ? path.join(rootPath, 'media') : rootPath
    const mediaRel = path.relative(rootPath, mediaAbs)
    const profiles: ProfileFolder[] = []
    for (const entry of await listDir(mediaAbs)) {
      if (isStrayName(entry.name)) continue
      if (entry.isSymbolicLink()) {
        warnings.push(symlinkWarning(path.join(mediaRel, entry.name)))
        continue
      }
      if (!entry.isDirectory()) continue
      const wanted = selection === 'all' ? 'all' : selection.get(entry.name)
      if (!wanted) continue
      const relPath = path.join(mediaRel, entry.name)
      const recordings: RecordingFolder[] = []
      for (const child of await listDir(path.join(rootPath, relPath))) {
        if (isStrayName(child.name)) continue
        if (child.isSymbolicLink()) {
          warnings.push(symlinkWarning(path.join(relPath, child.name)))
          continue
        }
        if (!child.isDirectory()) continue
        if (wanted !== 'all' && !wanted.has(child.name)) continue
        recordings.push({
          dirName: child.name,
          folderName: child.name.normalize('NFC'),
          relPath: path.join(relPath, child.name),
        })
      }
      profiles.push({dirName: entry.name, name: entry.name.normalize('NFC'), relPath, recordings})
    }
    trees.push({rootPath, configRel: hasConfig ? 'config.yaml' : null, profiles, whole: selection === 'all'})
  }
  return {trees, warnings}
}

async function classifyFolder(folder: string): Promise<'app' | 'media' | 'profile' | 'recording'> {
  if ((await isFile(path.join(folder, 'config.yaml'))) || (await isDirectory(path.join(folder, 'media'))))
    return 'app'
  const entries = await listDir(folder)
  if (looksLikeRecording(entries)) return 'recording'
  for (const entry of entries) {
    if (!entry.isDirectory() || isStrayName(entry.name)) continue
    if (looksLikeRecording(await listDir(path.join(folder, entry.name)))) return 'profile'
  }
  return 'media'
}

function looksLikeRecording(entries: readonly Dirent[]): boolean {
  return entries.some(
    (e) => !isStrayName(e.name) && !e.isDirectory() && (e.name === 'metadata.json' || AUDIO.test(e.name)),
  )
}

/** The import root of a media folder: the folder above it when that holds config.yaml, else the media folder. */
async function rootOfMedia(mediaDir: string): Promise<{root: string; hasConfig: boolean}> {
  const parent = path.dirname(mediaDir)
  if (path.basename(mediaDir) === 'media' && (await isFile(path.join(parent, 'config.yaml')))) {
    return {root: parent, hasConfig: true}
  }
  return {root: mediaDir, hasConfig: false}
}

function symlinkWarning(relPath: string): ImportWarning {
  return {
    file: relPath,
    code: 'SYMLINK_NOT_FOLLOWED',
    message: `${relPath} is a symbolic link; aedb does not follow links in media/.`,
  }
}

async function listDir(folder: string): Promise<Dirent[]> {
  const entries = await readdir(folder, {withFileTypes: true}).catch(() => [] as Dirent[])
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isFile() ?? false
}

async function isDirectory(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isDirectory() ?? false
}
