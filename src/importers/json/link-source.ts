import type {FileRecord} from '../../files/file-catalog.js'
import {folderBaseName, folderHashSuffix, legacyOutputName} from './legacy-output-name.js'

/** A hashed file of a profile's source folder. */
export interface SourceFile {
  /** The file name as on disk (NFD stays NFD: the legacy name rule saw it that way). */
  fileName: string
  record: FileRecord & {sha256: string}
}

export type SourceLinkKind = 'hashed_source' | 'processed_hashes' | 'folder_suffix' | 'none'

export interface SourceLink {
  sha256: string | null
  link: SourceLinkKind
  /** The source file whose bytes are that content, when one was found. */
  file: SourceFile | null
  /** Why a name-matched file was not linked (it changed after processing), or other doubts. */
  warnings: string[]
}

export interface LinkSourceProps {
  folderName: string
  /** Files of the recording's profile's source folder. */
  sources: readonly SourceFile[]
  /** The full hashes `.processed_hashes.json` of this profile maps to this folder (NFC compared). */
  processedHashes: readonly string[]
  /** Every full hash known anywhere (all source folders, all hash indexes, the database), for the suffix. */
  knownHashes: ReadonlySet<string>
}

/**
 * Finds a recording's source content, in the order the issue gives: hashing the profile's source files (matched
 * by the folder's 8-hex suffix, or by the legacy sanitised-name rule when nothing contradicts it), then
 * `.processed_hashes.json`, then a unique known hash starting with the folder's suffix. A name-matched file
 * whose hash differs from what the index or suffix promised changed after processing: a warning, never a link.
 */
export function linkSource(props: LinkSourceProps): SourceLink {
  const warnings: string[] = []
  const suffix = folderHashSuffix(props.folderName)
  const promised = [...new Set(props.processedHashes)]
  const promise = promised.length === 1 ? promised[0]! : null
  if (promised.length > 1) {
    warnings.push(
      `.processed_hashes.json maps ${promised.length} different sources to this folder; none is trusted`,
    )
  }
  if (promise && suffix && !promise.startsWith(suffix)) {
    warnings.push(`.processed_hashes.json says ${short(promise)} but the folder name ends in ${suffix}`)
  }
  const index = indexSources(props.sources)
  const nameKey = suffix ? folderBaseName(props.folderName) : props.folderName
  const nameMatches = index.byName.get(nameKey) ?? []
  const fits = (sha: string) => (promise ? sha === promise : suffix ? sha.startsWith(suffix) : true)

  const prefix = promise ? promise.slice(0, 8) : suffix
  const byHash = (prefix ? (index.byPrefix.get(prefix) ?? []) : []).filter((s) =>
    promise ? s.record.sha256 === promise : true,
  )
  if (byHash.length > 0) {
    const file = byHash.find((s) => nameMatches.includes(s)) ?? byHash[0]!
    return {sha256: file.record.sha256, link: 'hashed_source', file, warnings}
  }
  const named = [...new Map(nameMatches.map((s) => [s.record.sha256, s])).values()]
  if (named.length > 0 && (promise || suffix)) {
    for (const s of named.filter((n) => !fits(n.record.sha256))) {
      warnings.push(
        `source ${s.record.rel_path} now has SHA-256 ${short(s.record.sha256)} but ${promise ? `.processed_hashes.json promised ${short(promise)}` : `the folder suffix promised ${suffix}`}: it changed after processing and is not linked`,
      )
    }
  } else if (named.length === 1) {
    return {sha256: named[0]!.record.sha256, link: 'hashed_source', file: named[0]!, warnings}
  } else if (named.length > 1) {
    warnings.push(
      `${named.length} source files with different contents match this folder's name; none is linked`,
    )
  }
  if (promise) return {sha256: promise, link: 'processed_hashes', file: null, warnings}
  if (suffix) {
    const candidates = indexHashes(props.knownHashes).get(suffix) ?? []
    if (candidates.length === 1) return {sha256: candidates[0]!, link: 'folder_suffix', file: null, warnings}
    if (candidates.length > 1)
      warnings.push(`${candidates.length} known sources start with ${suffix}; none is linked`)
  }
  return {sha256: null, link: 'none', file: null, warnings}
}

interface SourceIndex {
  /** Legacy output name (of the raw and of the NFC file name) -> files. */
  byName: Map<string, SourceFile[]>
  /** First 8 hex of the SHA-256 -> files. */
  byPrefix: Map<string, SourceFile[]>
}

// Built once per profile's source list and per hash set, so linking stays linear in the number of recordings.
const SOURCE_INDEXES = new WeakMap<readonly SourceFile[], SourceIndex>()
const HASH_INDEXES = new WeakMap<ReadonlySet<string>, {size: number; byPrefix: Map<string, string[]>}>()

function indexSources(sources: readonly SourceFile[]): SourceIndex {
  let index = SOURCE_INDEXES.get(sources)
  if (!index) {
    index = {byName: new Map(), byPrefix: new Map()}
    for (const source of sources) {
      const names = new Set([
        legacyOutputName(source.fileName).normalize('NFC'),
        legacyOutputName(source.fileName.normalize('NFC')),
      ])
      for (const name of names) index.byName.set(name, [...(index.byName.get(name) ?? []), source])
      const prefix = source.record.sha256.slice(0, 8)
      index.byPrefix.set(prefix, [...(index.byPrefix.get(prefix) ?? []), source])
    }
    SOURCE_INDEXES.set(sources, index)
  }
  return index
}

function indexHashes(hashes: ReadonlySet<string>): Map<string, string[]> {
  let index = HASH_INDEXES.get(hashes)
  if (!index || index.size !== hashes.size) {
    const byPrefix = new Map<string, string[]>()
    for (const hash of hashes)
      byPrefix.set(hash.slice(0, 8), [...(byPrefix.get(hash.slice(0, 8)) ?? []), hash])
    index = {size: hashes.size, byPrefix}
    HASH_INDEXES.set(hashes, index)
  }
  return index.byPrefix
}

function short(sha: string): string {
  return `${sha.slice(0, 12)}…`
}
