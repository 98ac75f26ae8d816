export interface AudioProbe {
  durationS: number | null
  sampleRateHz: number | null
  channels: number | null
  codec: string | null
  /** Why the file could not be read as audio; the other fields are null then. */
  error: string | null
  /** Comment tags, where the earliest stem-separation versions kept their loudness JSON. */
  comments: string[]
}

export const AUDIO_EXTENSIONS = new Set([
  '.wav',
  '.wave',
  '.opus',
  '.ogg',
  '.flac',
  '.mp3',
  '.m4a',
  '.aac',
  '.aif',
  '.aiff',
])

/** Duration, rate, channels and codec read in-process by music-metadata (2-8 ms a file; ffprobe is ~35x slower). */
export async function probeAudio(file: string): Promise<AudioProbe> {
  try {
    // Loaded on first use: most commands that import this module (for AUDIO_EXTENSIONS) never read audio.
    const {parseFile} = await import('music-metadata')
    const metadata = await parseFile(file, {duration: true, skipCovers: true})
    const {format} = metadata
    const comments = (metadata.common.comment ?? [])
      .map((c) => (typeof c === 'string' ? c : ((c as {text?: string}).text ?? '')))
      .filter((c) => c !== '')
    const duration = format.duration
    if (duration === undefined || !Number.isFinite(duration)) {
      return {
        durationS: null,
        sampleRateHz: format.sampleRate ?? null,
        channels: format.numberOfChannels ?? null,
        codec: format.codec ?? format.container ?? null,
        error: 'no duration could be read',
        comments,
      }
    }
    return {
      durationS: duration,
      sampleRateHz: format.sampleRate ?? null,
      channels: format.numberOfChannels ?? null,
      codec: format.codec ?? format.container ?? null,
      error: null,
      comments,
    }
  } catch (error) {
    return {
      durationS: null,
      sampleRateHz: null,
      channels: null,
      codec: null,
      error: (error as Error).message,
      comments: [],
    }
  }
}
