import {lstat, realpath} from 'node:fs/promises'
import path from 'node:path'

/** A legacy path string that would be opened outside the folder it belongs to. Nothing was opened. */
export class PathEscapeError extends Error {
  constructor(
    readonly value: string,
    reason: string,
  ) {
    super(`${JSON.stringify(value)} ${reason}`)
    this.name = 'PathEscapeError'
  }
}

/**
 * Checks a relative path taken from legacy data (a `stem_url`, a `waveform_url`, a stem key used as a file name)
 * against `folderAbs` and returns it joined to `folderRel`. Refuses, without opening anything: empty or absolute
 * paths, Windows drive or UNC paths, any `..` segment, NUL bytes, and a path that exists but resolves through a
 * symbolic link outside the folder. `realpath` only reads link targets, never file contents.
 */
export async function resolveInFolder(folderAbs: string, folderRel: string, value: string): Promise<string> {
  if (value === '' || value.includes('\0')) throw new PathEscapeError(value, 'is not a file name')
  const segments = value.split(/[\\/]+/)
  if (path.isAbsolute(value) || /^[A-Za-z]:/.test(value) || value.startsWith('\\')) {
    throw new PathEscapeError(
      value,
      'is an absolute path; only names relative to the recording folder are read',
    )
  }
  if (segments.includes('..'))
    throw new PathEscapeError(value, 'climbs out of the recording folder with ".."')
  const absolute = path.join(folderAbs, value)
  const exists = await lstat(absolute).then(
    () => true,
    () => false,
  )
  if (exists) {
    const [real, realFolder] = await Promise.all([realpath(absolute).catch(() => null), realpath(folderAbs)])
    if (real === null) throw new PathEscapeError(value, 'is a symbolic link whose target does not exist')
    if (!real.startsWith(realFolder + path.sep)) {
      throw new PathEscapeError(value, 'is a symbolic link that leads outside the recording folder')
    }
  }
  return path.join(folderRel, value)
}

/** True for waveform references that are web routes or URLs rather than files (`/api/profiles/…/waveform`). */
export function isUrlReference(value: string): boolean {
  return value.startsWith('/api/') || /^[a-z][a-z0-9+.-]*:\/\//i.test(value)
}
