import path from 'node:path'
import {hashFile} from '../files/hash-file.js'

/** Per import root (as found on disk now): the regular files under it by size, built once per run when needed. */
export type MovedFileIndex = Map<string, Promise<Map<number, string[]>>>

/**
 * Where a missing file's bytes sit now under the same root: files of the recorded size are hashed until one has
 * the recorded SHA-256, skipping `recordedCopies` (files with these bytes imported at their own paths: duplicates,
 * not where this one went). Returns the path relative to the root, or null.
 */
export async function findMovedFile(
  index: MovedFileIndex,
  root: string,
  file: {rel_path: string; size_bytes: number | null; sha256: string | null},
  onBytes: (bytes: number) => void,
  recordedCopies: ReadonlySet<string> = new Set(),
): Promise<string | null> {
  if (file.size_bytes === null || file.sha256 === null) return null
  let bySize = index.get(root)
  if (!bySize) {
    bySize = listBySize(root)
    index.set(root, bySize)
  }
  for (const candidate of (await bySize).get(file.size_bytes) ?? []) {
    if (candidate === file.rel_path || recordedCopies.has(candidate)) continue
    try {
      if ((await hashFile(path.join(root, candidate), onBytes)).sha256 === file.sha256) return candidate
    } catch {
      // A candidate that cannot be read is not the moved file.
    }
  }
  return null
}

async function listBySize(root: string): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>()
  // Loaded only when a file is missing, which a clean nightly run never meets.
  const {default: fg} = await import('fast-glob')
  const entries = await fg('**', {
    cwd: root,
    dot: true,
    onlyFiles: true,
    stats: true,
    followSymbolicLinks: false,
    suppressErrors: true,
  })
  for (const entry of entries) {
    const size = entry.stats?.size
    if (size === undefined) continue
    const list = out.get(size)
    if (list) list.push(entry.path)
    else out.set(size, [entry.path])
  }
  return out
}
