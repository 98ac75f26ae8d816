import path from 'node:path'

export interface ReferenceIndex {
  byPath: Set<string>
  byName: Map<string, string[]>
}

export function buildReferenceIndex(allFiles: readonly string[]): ReferenceIndex {
  const byName = new Map<string, string[]>()
  for (const file of allFiles) {
    const name = path.posix.basename(file)
    const list = byName.get(name)
    if (list) list.push(file)
    else byName.set(name, [file])
  }
  return {byPath: new Set(allFiles), byName}
}

/**
 * Where a path written in a log lives under the import root. Relative paths are taken from the maneuver folder;
 * absolute paths from the researcher's machine, and names that are not where the log says, are looked up by
 * their file name, nearest the maneuver folder first. Not found: the path it would have had (recorded as missing).
 */
export function resolveReference(
  value: string,
  maneuverDir: string,
  index: ReferenceIndex,
  defaultDir?: string,
): {relPath: string; found: boolean} {
  const normalised = value.replaceAll('\\', '/')
  const isAbsolute = normalised.startsWith('/') || /^[A-Za-z]:\//.test(normalised)
  if (!isAbsolute) {
    const direct = path.posix.normalize(path.posix.join(maneuverDir, normalised))
    if (!direct.startsWith('..') && index.byPath.has(direct)) return {relPath: direct, found: true}
  }
  const name = path.posix.basename(normalised)
  const candidates = index.byName.get(name) ?? []
  if (candidates.length > 0) {
    const score = (candidate: string) => sharedPrefixDepth(path.posix.dirname(candidate), maneuverDir)
    const best = [...candidates].sort((a, b) => score(b) - score(a) || a.localeCompare(b))[0]!
    return {relPath: best, found: true}
  }
  const dir = defaultDir ? path.posix.normalize(path.posix.join(maneuverDir, defaultDir)) : maneuverDir
  const fallback = path.posix.normalize(
    path.posix.join(dir === '.' || dir.startsWith('..') ? maneuverDir : dir, name),
  )
  return {relPath: fallback.startsWith('..') || fallback === '' ? name : fallback, found: false}
}

function sharedPrefixDepth(a: string, b: string): number {
  const left = a.split('/')
  const right = b.split('/')
  let depth = 0
  while (depth < left.length && depth < right.length && left[depth] === right[depth]) depth++
  return depth
}
