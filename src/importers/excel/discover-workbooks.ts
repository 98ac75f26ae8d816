import {stat} from 'node:fs/promises'
import path from 'node:path'
import fg from 'fast-glob'
import {AedbError, EXIT} from '../../errors.js'

export interface DiscoveredRoot {
  /** Absolute import root: a folder argument, or the folder of a file argument. */
  root: string
  /** Candidate workbooks (relative to the root) to look at. */
  workbooks: string[]
  /** Workbooks passed over without opening, with why (lock files, hidden files). */
  skipped: Array<{file: string; reason: string}>
  /** Every file under the root (relative), to find files the logs reference by their tail. */
  allFiles: string[]
}

const LOG_NAME = /^(knee_)?processing_log_.+\.xlsx$/i

export function looksLikeLogName(file: string): boolean {
  return LOG_NAME.test(path.basename(file))
}

/**
 * Finds the workbooks under each path argument (folders recursively, files as given). Office lock files
 * (`~$x.xlsx`) and anything hidden (a dot-name anywhere in the path) are skipped, never opened.
 */
export async function discoverWorkbooks(paths: readonly string[]): Promise<DiscoveredRoot[]> {
  const roots: DiscoveredRoot[] = []
  for (const input of paths) {
    const absolute = path.resolve(input)
    let info: Awaited<ReturnType<typeof stat>>
    try {
      info = await stat(absolute)
    } catch {
      throw new AedbError(`${input} does not exist.`, {
        code: 'PATH_NOT_FOUND',
        exit: EXIT.USAGE,
        suggestions: ['Pass the folder that holds the participant folders (#1011, …), or single workbooks.'],
      })
    }
    if (info.isDirectory()) {
      const allFiles = (
        await fg('**/*', {cwd: absolute, dot: true, onlyFiles: true, followSymbolicLinks: false})
      ).sort()
      const root: DiscoveredRoot = {root: absolute, workbooks: [], skipped: [], allFiles}
      for (const file of allFiles) classify(file, root)
      roots.push(root)
    } else {
      const dir = path.dirname(absolute)
      const file = path.basename(absolute)
      const existing = roots.find((r) => r.root === dir)
      const root = existing ?? {
        root: dir,
        workbooks: [],
        skipped: [],
        allFiles: (await fg('**/*', {cwd: dir, dot: true, onlyFiles: true})).sort(),
      }
      if (!existing) roots.push(root)
      if (!/\.xlsx$/i.test(file)) root.skipped.push({file, reason: 'not an .xlsx workbook'})
      else classify(file, root)
    }
  }
  return roots
}

function classify(file: string, root: DiscoveredRoot): void {
  if (!/\.xlsx$/i.test(file)) return
  const name = path.posix.basename(file)
  if (name.startsWith('~$')) root.skipped.push({file, reason: 'Office lock file'})
  else if (file.split('/').some((part) => part.startsWith('.')))
    root.skipped.push({file, reason: 'hidden file'})
  else root.workbooks.push(file)
}
