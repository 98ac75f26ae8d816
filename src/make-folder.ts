import {mkdir, stat} from 'node:fs/promises'
import path from 'node:path'

/**
 * `mkdir -p` that always ends: Node's `mkdir(dir, {recursive: true})` retries forever where the kernel answers
 * ENOENT for a folder whose parent exists (`/proc/x`, other pseudo-filesystems). Here each missing level is made
 * with a plain mkdir once, so such a path fails with the kernel's own error instead of hanging the command.
 */
export async function makeFolder(dir: string): Promise<void> {
  const absolute = path.resolve(dir)
  try {
    await mkdir(absolute)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return assertFolder(absolute, error)
    const parent = path.dirname(absolute)
    if (code !== 'ENOENT' || parent === absolute) throw error
    await makeFolder(parent)
    await mkdir(absolute).catch((again: NodeJS.ErrnoException) => {
      if (again.code === 'EEXIST') return assertFolder(absolute, again)
      throw again
    })
  }
}

/** EEXIST is success only when what exists is a folder (or a link to one); a file in the way is ENOTDIR's case. */
async function assertFolder(dir: string, error: unknown): Promise<void> {
  const found = await stat(dir).catch(() => null)
  if (!found?.isDirectory()) throw error
}
