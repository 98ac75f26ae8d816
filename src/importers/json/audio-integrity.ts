import {open} from 'node:fs/promises'
import path from 'node:path'
import type {FileRecord} from '../../files/file-catalog.js'

const HEADER_BYTES = 64 * 1024

/**
 * What music-metadata cannot tell by itself: a truncated WAV (it reports the data present, silently). It keeps its
 * hash and size; its duration becomes unknown and `probe_error` says why, so a warning can be given and `verify`
 * can find it. (Raw ADTS AAC has no length header, but music-metadata counts its frames: that duration is kept.)
 * `absolute` must already be known to lie inside the tree.
 */
export async function checkAudioIntegrity(record: FileRecord, absolute: string): Promise<FileRecord> {
  if (!record.present || record.size_bytes === null || record.size_bytes === 0) return record
  const extension = path.extname(record.rel_path).toLowerCase()
  if (extension !== '.wav' && extension !== '.wave') return record
  const declared = await declaredWavEnd(absolute)
  if (declared !== null && declared > record.size_bytes) {
    return {
      ...record,
      duration_s: null,
      probe_error: `truncated WAV: the header promises ${declared} bytes, the file has ${record.size_bytes}`,
    }
  }
  return record
}

/** Where the RIFF header says the `data` chunk ends, or null when the header cannot be walked. */
async function declaredWavEnd(absolute: string): Promise<number | null> {
  const handle = await open(absolute, 'r')
  try {
    const buffer = Buffer.alloc(HEADER_BYTES)
    const {bytesRead} = await handle.read(buffer, 0, HEADER_BYTES, 0)
    const header = buffer.subarray(0, bytesRead)
    if (
      header.length < 12 ||
      header.toString('latin1', 0, 4) !== 'RIFF' ||
      header.toString('latin1', 8, 12) !== 'WAVE'
    )
      return null
    let offset = 12
    while (offset + 8 <= header.length) {
      const id = header.toString('latin1', offset, offset + 4)
      const size = header.readUInt32LE(offset + 4)
      // 0 and 0xFFFFFFFF: a streamed WAV whose writer never came back to fill in the length.
      if (id === 'data') return size === 0 || size === 0xffffffff ? null : offset + 8 + size
      offset += 8 + size + (size % 2)
    }
    return null
  } finally {
    await handle.close()
  }
}
