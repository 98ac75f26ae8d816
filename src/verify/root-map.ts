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

/** Whether `root` is `folder` or inside it (`/` holds every root). */
function isUnder(root: string, folder: string): boolean {
  return root === folder || root.startsWith(folder.endsWith(path.sep) ? folder : folder + path.sep)
}

/** Where a recorded import root is now: the longest mapping whose OLD is the root or one of its parents. */
export function mapRoot(root: string, mappings: readonly RootMapping[]): string {
  let best: RootMapping | null = null
  for (const m of mappings) {
    if (isUnder(root, m.from) && (!best || m.from.length > best.from.length)) best = m
  }
  return best ? path.join(best.to, path.relative(best.from, root)) : root
}

/**
 * The mappings whose OLD is no import root nor a folder above one (say a folder inside a root: roots are mapped
 * whole), each with the root that holds OLD where there is one, so the usage error can name the mapping to use.
 */
export function unmatchedMappings(
  roots: readonly string[],
  mappings: readonly RootMapping[],
): Array<{mapping: RootMapping; insideRoot: string | null}> {
  return mappings
    .filter((m) => !roots.some((root) => isUnder(root, m.from)))
    .map((mapping) => ({mapping, insideRoot: roots.find((root) => isUnder(mapping.from, root)) ?? null}))
}
