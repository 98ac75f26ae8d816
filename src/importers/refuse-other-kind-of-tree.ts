import {stat} from 'node:fs/promises'
import path from 'node:path'
import type {Readable} from 'node:stream'
import fg from 'fast-glob'
import {AedbError, EXIT} from '../errors.js'

interface Signs {
  globs: string[]
  /** The same, for a file given on the command line. */
  name: RegExp
}

const STEMSET_SIGNS: Signs = {
  globs: ['**/metadata.json', '**/config.yaml'],
  name: /^(metadata\.json|config\.yaml)$/i,
}
const WORKBOOK_SIGNS: Signs = {globs: ['**/*.xlsx'], name: /\.xlsx$/i}

/**
 * `aedb import-json` pointed at a tree of Excel logs: refused (exit 3) before anything is written, instead of
 * profiles named `#1013`. Refused only when there are workbooks and no metadata.json or config.yaml anywhere (a
 * knee tree may hold .wav files too); the walk stops at the first of those, so a real media tree costs a few
 * directory reads.
 */
export async function refuseWorkbookTree(paths: readonly string[]): Promise<void> {
  if (await findFirst(paths, STEMSET_SIGNS)) return
  const workbook = await findFirst(paths, WORKBOOK_SIGNS)
  if (!workbook) return
  throw new AedbError(
    `no metadata.json found under ${paths.join(', ')}, but Excel workbooks (${workbook}); this looks like a tree of Excel logs: use \`aedb backfill-excel\`.`,
    {
      code: 'WRONG_KIND_OF_TREE',
      exit: EXIT.PROBLEMS,
      suggestions: [
        `aedb backfill-excel ${paths.join(' ')}`,
        'import-json expects the folder holding config.yaml and media/<profile>/<recording>/metadata.json.',
      ],
    },
  )
}

/**
 * `aedb backfill-excel` pointed at a stem-separation tree: refused (exit 3) when no workbook was found but the
 * files listed (relative to their root) hold a metadata.json or config.yaml.
 */
export function refuseStemsetTree(paths: readonly string[], files: readonly string[]): void {
  const sign = files.find((f) => /(^|\/)(metadata\.json|config\.yaml)$/i.test(f))
  if (!sign) return
  throw new AedbError(
    `no .xlsx workbooks found under ${paths.join(', ')}, but ${path.posix.basename(sign)} (${sign}); this looks like a stem-separation tree: use \`aedb import-json\`.`,
    {
      code: 'WRONG_KIND_OF_TREE',
      exit: EXIT.PROBLEMS,
      suggestions: [
        `aedb import-json ${paths.join(' ')}`,
        'backfill-excel expects a study folder with participant folders (#1011/Left Knee/Walking/processing_log_1011_Left_walk.xlsx, …).',
      ],
    },
  )
}

/** The first file under the paths that is one of the signs (as given path + relative path), or null. */
async function findFirst(paths: readonly string[], signs: Signs): Promise<string | null> {
  for (const given of paths) {
    const info = await stat(given).catch(() => null)
    if (!info) continue
    if (!info.isDirectory()) {
      if (signs.name.test(path.basename(given))) return given
      continue
    }
    const stream = fg.stream(signs.globs, {
      cwd: given,
      onlyFiles: true,
      followSymbolicLinks: false,
      caseSensitiveMatch: false,
      suppressErrors: true,
    })
    for await (const entry of stream) {
      ;(stream as Readable).destroy()
      return path.join(given, String(entry))
    }
  }
  return null
}
