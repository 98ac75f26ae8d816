import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/**
 * stat(2) of every path into `out`, four numbers per path: status (0 a regular file, 1 something else, 2 stat
 * failed), size, mtime in whole ms (Math.floor of statSync's mtimeMs), errno (0 unless stat failed). Symbolic
 * links are followed, as statSync does.
 */
export type StatMany = (paths: readonly string[], out: Float64Array) => void

/** Where `npm ci` builds the addon (scripts/build-native.mjs), relative to the package's root. */
const ADDON = path.join('build', 'Release', 'aedb_stat.node')

let loaded: {statMany: StatMany | null} | undefined

/**
 * The native batch stat (native/stat_many.c), or null where it was not built (no C compiler when the package was
 * installed, `npm ci --ignore-scripts`) or AEDB_NATIVE_STAT=0 turns it off: the callers then use Node's statSync,
 * which gives the same numbers at about 1.5x the CPU (a Stats object with four Dates per file, and its garbage).
 */
export function nativeStatMany(): StatMany | null {
  loaded ??= {statMany: load()}
  return loaded.statMany
}

function load(): StatMany | null {
  if (process.env.AEDB_NATIVE_STAT === '0') return null
  const root = packageRoot()
  if (root === null || !existsSync(path.join(root, ADDON))) return null
  try {
    const addon = createRequire(import.meta.url)(path.join(root, ADDON)) as {statMany?: unknown}
    return typeof addon.statMany === 'function' ? (addon.statMany as StatMany) : null
  } catch {
    // Built for another Node or platform (a copied node_modules): Node's statSync does the same work.
    return null
  }
}

/** The folder holding binding.gyp above this module: the repository from src/, the package from dist/. */
function packageRoot(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(path.join(dir, 'binding.gyp'))) return dir
    const parent = path.dirname(dir)
    if (parent === dir) return null
    dir = parent
  }
}
