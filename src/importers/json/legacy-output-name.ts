/**
 * The legacy app's output folder name for a source file (spec section 3): the file name without its extension,
 * every character that Python's `str.isalnum()` rejects (other than `-` and `_`) replaced by `_`, runs of `_`
 * collapsed, `_` trimmed at both ends, `unnamed` when nothing is left. Combining marks are not alphanumeric, so a
 * decomposed (NFD) `ö` becomes `o_`, exactly as upstream did.
 */
export function legacyOutputName(fileName: string): string {
  const dot = fileName.lastIndexOf('.')
  const stem = dot > 0 ? fileName.slice(0, dot) : fileName
  const replaced = Array.from(stem, (ch) => (/^[\p{L}\p{N}_-]$/u.test(ch) ? ch : '_')).join('')
  const collapsed = replaced.replace(/_+/g, '_').replace(/^_+|_+$/g, '')
  return collapsed === '' ? 'unnamed' : collapsed
}

const HASH_SUFFIX = /_([0-9a-f]{8})$/

/** The `_<first 8 hex of sha256>` suffix output folders carry from 2025-10-19 21:37 on, or null. */
export function folderHashSuffix(folderName: string): string | null {
  return HASH_SUFFIX.exec(folderName)?.[1] ?? null
}

/** The folder name without its hash suffix. */
export function folderBaseName(folderName: string): string {
  return folderName.replace(HASH_SUFFIX, '')
}
