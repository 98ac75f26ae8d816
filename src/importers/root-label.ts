import path from 'node:path'

/**
 * An import root as the command line gave it (else relative to the working directory, else absolute): put before
 * the paths of a run with several roots, so that the same relative path under two roots names two files.
 */
export function rootLabel(root: string, given: readonly string[]): string {
  const same = given.find((p) => path.resolve(p) === root)
  if (same !== undefined) return same.replace(/(.)\/+$/, '$1')
  const relative = path.relative(process.cwd(), root)
  return relative && !relative.startsWith('..') ? relative : root
}
