import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/**
 * stat(2) of every path into `out`, four numbers per path: status (0 a regular file, 1 something else, 2 stat
 * failed), size, mtime in whole ms (Math.floor of statSync's mtimeMs), errno (0 unless stat failed). Symbolic
 * links are followed, as statSync does.
 */
export interface NativeStat {
  /** The stats run on a thread of libuv's pool; `out` is filled when the promise settles. */
  statManyAsync: (paths: readonly string[], out: Float64Array) => Promise<void>
}

/** Where `npm ci` builds the addon (scripts/build-native.mjs), relative to the package's root. */
const ADDON = path.join('build', 'Release', 'aedb_stat.node')

/** The calling convention native/stat_many.c exports as `abi`. */
const ABI = 3

/** The addon's own functions: the paths cross as one string, separated by NUL (which no path holds). */
interface Addon {
  abi: number
  statManyAsync(joined: string, count: number, out: Float64Array): Promise<void>
}

/** A path holding a NUL would split in two: the addon refuses the batch (its count is off) rather than misplace it. */
function joined(paths: readonly string[]): string {
  return paths.join('\0')
}

let loaded: {native: NativeStat | null} | undefined

/**
 * The native batch stat (native/stat_many.c), or null where it was not built (no C compiler when the package was
 * installed, `npm ci --ignore-scripts`) or AEDB_NATIVE_STAT=0 turns it off: the callers then use Node's statSync,
 * which gives the same numbers at about 1.5x the CPU (a Stats object with four Dates per file, and its garbage).
 */
export function nativeStat(): NativeStat | null {
  loaded ??= {native: load()}
  return loaded.native
}

function load(): NativeStat | null {
  if (process.env.AEDB_NATIVE_STAT === '0') return null
  const root = packageRoot()
  if (root === null || !existsSync(path.join(root, ADDON))) return null
  try {
    const addon = createRequire(import.meta.url)(path.join(root, ADDON)) as Partial<Addon>
    const {statManyAsync} = addon
    // A build of another version of the calling convention (left in build/ by an older checkout) is not used.
    if (addon.abi !== ABI || typeof statManyAsync !== 'function') return null
    return {
      statManyAsync: async (paths, out) => {
        if (paths.length > 0) await statManyAsync(joined(paths), paths.length, out)
      },
    }
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
