import fs from 'node:fs'
import {stat} from 'node:fs/promises'
import path from 'node:path'
import fg from 'fast-glob'
import {AedbError, EXIT} from '../../errors.js'

export const WORKBOOK_PATHS_HINT = [
  'Pass the folder that holds the participant folders (#1011, …), or single workbooks.',
]

export interface DiscoveredRoot {
  /** Absolute import root: a folder argument, or the folder of a file argument. */
  root: string
  /** Candidate workbooks (relative to the root) to look at. */
  workbooks: string[]
  /** Workbooks passed over without opening, with why (lock files, hidden files). */
  skipped: Array<{file: string; reason: string}>
  /** Every file under the root (relative), to find files the logs reference by their tail. */
  allFiles: string[]
  /** Folders under the root aedb may not list (EACCES/EPERM), relative, with the error: their logs are not read. */
  unreadable: Array<{folder: string; reason: string}>
}

const LOG_NAME = /^(knee_)?processing_log_.+\.xlsx$/i

export function looksLikeLogName(file: string): boolean {
  return LOG_NAME.test(path.basename(file))
}

/**
 * Finds the workbooks under each path argument (folders recursively, files as given). Office lock files
 * (`~$x.xlsx`) and anything hidden (a dot-name anywhere in the path) are skipped, never opened.
 */
/**
 * Finds the workbooks under each path argument (folders recursively, files as given). Office lock files
 * (`~$x.xlsx`) and anything hidden (a dot-name anywhere in the path) are skipped, never opened. A path inside an
 * import root recorded by an earlier run keeps that root, so the same file keeps one identity (and its hash cache)
 * whether the whole study or one participant folder is imported.
 */
export async function discoverWorkbooks(
  paths: readonly string[],
  knownRoots: readonly string[] = [],
): Promise<DiscoveredRoot[]> {
  const roots: DiscoveredRoot[] = []
  const rootFor = (dir: string): DiscoveredRoot => {
    const known = knownRoots
      .filter((r) => dir === r || dir.startsWith(r + path.sep))
      .sort((a, b) => a.length - b.length)[0]
    const rootPath = known ?? dir
    let root = roots.find((r) => r.root === rootPath)
    if (!root) {
      root = {root: rootPath, workbooks: [], skipped: [], allFiles: [], unreadable: []}
      roots.push(root)
    }
    return root
  }
  for (const input of paths) {
    const absolute = path.resolve(input)
    let info: Awaited<ReturnType<typeof stat>>
    try {
      info = await stat(absolute)
    } catch {
      throw new AedbError(`${input} does not exist.`, {
        code: 'PATH_NOT_FOUND',
        exit: EXIT.USAGE,
        suggestions: WORKBOOK_PATHS_HINT,
      })
    }
    const dir = info.isDirectory() ? absolute : path.dirname(absolute)
    const root = rootFor(dir)
    const prefix = path.relative(root.root, dir).split(path.sep).join('/')
    const under = (file: string) => (prefix === '' ? file : `${prefix}/${file}`)
    const denied: Array<{dir: string; error: NodeJS.ErrnoException}> = []
    const listing = (
      await fg('**/*', {
        cwd: dir,
        dot: true,
        onlyFiles: true,
        followSymbolicLinks: false,
        fs: {readdir: readdirNotingDenied(denied)},
      })
    ).map(under)
    for (const {dir: folder, error} of denied)
      root.unreadable.push({
        folder: path.relative(root.root, folder).split(path.sep).join('/') || '.',
        reason: `${error.code}: ${error.code === 'EACCES' ? 'permission denied' : 'operation not permitted'}`,
      })
    root.allFiles = [...new Set([...root.allFiles, ...listing])].sort()
    if (info.isDirectory()) {
      for (const file of listing) classify(file, root)
    } else if (!info.isFile()) {
      // A FIFO or device named like a workbook would block forever in open(): never open one.
      root.skipped.push({
        file: under(path.basename(absolute)),
        reason: 'not a regular file (a FIFO, socket or device)',
      })
    } else if (!/\.xlsx$/i.test(absolute)) {
      root.skipped.push({file: under(path.basename(absolute)), reason: 'not an .xlsx workbook'})
    } else {
      classify(under(path.basename(absolute)), root)
    }
  }
  for (const root of roots) {
    root.workbooks = [...new Set(root.workbooks)].sort()
  }
  return roots
}

type Readdir = typeof fs.readdir

/**
 * fs.readdir for fast-glob that notes a folder it may not list and goes on with the rest, where fast-glob would
 * end the whole walk (and the run) with EACCES.
 */
function readdirNotingDenied(denied: Array<{dir: string; error: NodeJS.ErrnoException}>): Readdir {
  return ((dir: string, options: unknown, callback?: unknown) => {
    const done = (typeof options === 'function' ? options : callback) as (
      error: NodeJS.ErrnoException | null,
      entries?: unknown[],
    ) => void
    const opts = typeof options === 'function' ? {} : options
    fs.readdir(dir, opts as {withFileTypes: true}, (error, entries) => {
      if (error && (error.code === 'EACCES' || error.code === 'EPERM')) {
        denied.push({dir: path.resolve(dir), error})
        done(null, [])
        return
      }
      done(error, entries)
    })
  }) as Readdir
}

function classify(file: string, root: DiscoveredRoot): void {
  if (!/\.xlsx$/i.test(file)) return
  const name = path.posix.basename(file)
  if (name.startsWith('~$')) root.skipped.push({file, reason: 'Office lock file'})
  else if (file.split('/').some((part) => part.startsWith('.')))
    root.skipped.push({file, reason: 'hidden file'})
  else root.workbooks.push(file)
}
