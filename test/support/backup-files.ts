import {createHash} from 'node:crypto'
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'

/** The decompressed lines of a backup file (small test backups only). */
export async function readBackupText(file: string): Promise<string[]> {
  return gunzipSync(await readFile(file))
    .toString('utf8')
    .split('\n')
    .slice(0, -1)
}

export async function writeSidecar(file: string): Promise<void> {
  const digest = createHash('sha256')
    .update(await readFile(file))
    .digest('hex')
  await writeFile(`${file}.sha256`, `${digest}  ${path.basename(file)}\n`)
}

/**
 * Writes `lines` as a backup whose trailer checksum and sidecar are made to match, so only what the edit broke
 * (or nothing, for a header edit) is left for restore to find.
 */
export async function writeResealedBackup(file: string, lines: string[]): Promise<void> {
  const body = lines.slice(0, -1)
  const trailer = JSON.parse(lines.at(-1)!) as {contentSha256: string}
  trailer.contentSha256 = createHash('sha256')
    .update(body.map((l) => `${l}\n`).join(''))
    .digest('hex')
  await writeFile(file, gzipSync(`${[...body, JSON.stringify(trailer)].join('\n')}\n`))
  await writeSidecar(file)
}
