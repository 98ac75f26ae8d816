import {randomBytes} from 'node:crypto'
import {mkdir, readdir, rename, rm, stat} from 'node:fs/promises'
import path from 'node:path'
import {AedbError, EXIT, userPathError} from '../errors.js'
import {makeFolder} from '../make-folder.js'

export interface OutputTarget {
  /** The final path (absolute). */
  final: string
  /** Where to write: a sibling with a temporary name, renamed to `final` by `commit`. */
  temp: string
  commit(): Promise<void>
  discard(): Promise<void>
}

/**
 * Claims an output path: refuses an existing file or a non-empty folder unless `force` (or `dryRun`), and hands
 * out a temporary sibling name (same folder, so the final rename is atomic on one filesystem). An interrupted export leaves at
 * most a `.aedb-tmp-…` file or folder next to the target, never a half-written file under the final name.
 */
export async function claimOutput(
  target: string,
  kind: 'file' | 'folder',
  force: boolean,
  dryRun = false,
): Promise<OutputTarget> {
  const final = path.resolve(target)
  const existing = await stat(final).catch(() => null)
  if (existing) {
    const isDir = existing.isDirectory()
    if (kind === 'file' && isDir)
      throw usage(`${target} is a folder; expected the name of an .xlsx file to write`, [
        `Give a file name such as ${path.join(target, 'export.xlsx')}.`,
      ])
    if (kind === 'folder' && !isDir)
      throw usage(`${target} is a file; the legacy layout writes a folder of workbooks`, [
        'Give the name of a new or empty folder.',
      ])
    const occupied = isDir ? (await readdir(final)).length > 0 : true
    // A dry run writes nothing, so it counts what would be written even where the real run needs --force.
    if (occupied && !force && !dryRun)
      throw new AedbError(
        `${target} already exists${isDir ? ' and is not empty' : ''}; nothing was written`,
        {
          code: 'OUTPUT_EXISTS',
          exit: EXIT.USAGE,
          suggestions: ['Pass --force to replace it, or choose another name.'],
        },
      )
  }
  const temp = path.join(
    path.dirname(final),
    `.${path.basename(final)}.aedb-tmp-${randomBytes(4).toString('hex')}`,
  )
  try {
    if (!dryRun) await makeFolder(path.dirname(final))
    if (kind === 'folder' && !dryRun) await mkdir(temp)
  } catch (error) {
    throw userPathError(error, target, {code: 'OUTPUT_INVALID', exit: EXIT.USAGE})
  }
  return {
    final,
    temp,
    async commit() {
      if (existing) await rm(final, {recursive: true, force: true})
      await rename(temp, final)
    },
    async discard() {
      await rm(temp, {recursive: true, force: true})
    },
  }
}

function usage(message: string, suggestions: string[]): AedbError {
  return new AedbError(message, {code: 'OUTPUT_INVALID', exit: EXIT.USAGE, suggestions})
}
