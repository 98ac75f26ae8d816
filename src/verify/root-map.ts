import path from 'node:path'

export interface RootMapping {
  from: string
  to: string
}

/** `OLD=NEW` from the command line; null when the text has no `=` or an empty side. */
export function parseRootMapping(text: string): RootMapping | null {
  const at = text.indexOf('=')
  if (at <= 0 || at === text.length - 1) return null
  return {from: path.resolve(text.slice(0, at)), to: path.resolve(text.slice(at + 1))}
}

/** Where a recorded import root is now: the longest mapping whose OLD is the root or one of its parents. */
export function mapRoot(root: string, mappings: readonly RootMapping[]): string {
  let best: RootMapping | null = null
  for (const m of mappings) {
    if (
      (root === m.from || root.startsWith(m.from + path.sep)) &&
      (!best || m.from.length > best.from.length)
    )
      best = m
  }
  return best ? best.to + root.slice(best.from.length) : root
}

/**
 * The mappings whose OLD is no import root nor a folder above one (say a folder inside a root: roots are mapped
 * whole), each with the root that holds OLD where there is one, so the usage error can name the mapping to use.
 */
export function unmatchedMappings(
  roots: readonly string[],
  mappings: readonly RootMapping[],
): Array<{mapping: RootMapping; insideRoot: string | null}> {
  const maps = (m: RootMapping, root: string) => root === m.from || root.startsWith(m.from + path.sep)
  return mappings
    .filter((m) => !roots.some((root) => maps(m, root)))
    .map((mapping) => ({
      mapping,
      insideRoot: roots.find((root) => mapping.from.startsWith(root + path.sep)) ?? null,
    }))
}
