import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, symlink, utimes, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

/** A small real PCM WAV (16-bit sine), optionally with a RIFF INFO ICMT comment like the earliest stems had. */
export function wavBytes(
  seconds: number,
  options: {rate?: number; channels?: number; comment?: string; seed?: number} = {},
): Buffer {
  const rate = options.rate ?? 8000
  const channels = options.channels ?? 1
  const frames = Math.round(seconds * rate)
  const data = Buffer.alloc(frames * channels * 2)
  const pitch = 220 + 20 * (options.seed ?? 0)
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++)
      data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * pitch * i) / rate)), (i * channels + c) * 2)
  }
  const fmt = Buffer.alloc(24)
  fmt.write('fmt ', 0, 'latin1')
  fmt.writeUInt32LE(16, 4)
  fmt.writeUInt16LE(1, 8)
  fmt.writeUInt16LE(channels, 10)
  fmt.writeUInt32LE(rate, 12)
  fmt.writeUInt32LE(rate * channels * 2, 16)
  fmt.writeUInt16LE(channels * 2, 20)
  fmt.writeUInt16LE(16, 22)
  let list = Buffer.alloc(0)
  if (options.comment !== undefined) {
    let text = Buffer.from(`${options.comment}\0`, 'utf8')
    if (text.length % 2) text = Buffer.concat([text, Buffer.alloc(1)])
    const icmt = Buffer.alloc(8)
    icmt.write('ICMT', 0, 'latin1')
    icmt.writeUInt32LE(text.length, 4)
    const body = Buffer.concat([Buffer.from('INFO', 'latin1'), icmt, text])
    const head = Buffer.alloc(8)
    head.write('LIST', 0, 'latin1')
    head.writeUInt32LE(body.length, 4)
    list = Buffer.concat([head, body])
  }
  const dataHead = Buffer.alloc(8)
  dataHead.write('data', 0, 'latin1')
  dataHead.writeUInt32LE(data.length, 4)
  const riff = Buffer.alloc(12)
  riff.write('RIFF', 0, 'latin1')
  riff.writeUInt32LE(4 + fmt.length + list.length + 8 + data.length, 4)
  riff.write('WAVE', 8, 'latin1')
  return Buffer.concat([riff, fmt, list, dataHead, data])
}

/**
 * Raw ADTS AAC (what the legacy app's `<stem>.aac` was): AAC-LC 44.1 kHz stereo frames of silence (a silent channel
 * pair element, then the end element), each padded after the end element to `frameBytes` as a real encoder's
 * frames are sized (music-metadata leaves out the last ~164 bytes of a stream, which for 13-byte frames is 12).
 */
export function adtsBytes(frames: number, frameBytes = 13): Buffer {
  const out: Buffer[] = []
  for (let i = 0; i < frames; i++) {
    const silence = Buffer.from([0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c])
    const payload = Buffer.concat([silence, Buffer.alloc(Math.max(0, frameBytes - 7 - silence.length))])
    const length = 7 + payload.length
    const header = Buffer.from([
      0xff,
      0xf1,
      (1 << 6) | (4 << 2),
      (2 << 6) | ((length >> 11) & 3),
      (length >> 3) & 0xff,
      ((length & 7) << 5) | 0x1f,
      0xfc,
    ])
    out.push(header, payload)
  }
  return Buffer.concat(out)
}

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex')
}

async function put(file: string, content: Buffer | string): Promise<void> {
  await mkdir(path.dirname(file), {recursive: true})
  await writeFile(file, content)
}

/** A source_folder that is nothing but an unset placeholder. */
export const UNSET_SOURCE_FOLDER = `\${AEDB_TEST_UNSET_SOURCE}`

const json = (value: unknown) => JSON.stringify(value, null, 2)

export interface NastyTree {
  /** The folder holding config.yaml and media/. */
  app: string
  /** A sibling of `app`: files whose content must never be read. */
  outside: string
  secret: Buffer
  /** atime given to the outside files, which any read would move forward (relatime: atime older than mtime). */
  trapAtime: Date
}

/** A bytes-on-disk tree with every twist of spec section 7, built in a fresh temp folder. */
export async function buildNastyTree(): Promise<NastyTree> {
  const base = await mkdtemp(path.join(tmpdir(), 'aedb-nasty-'))
  const app = path.join(base, 'app')
  const outside = path.join(base, 'outside')
  const media = path.join(app, 'media')
  const p = path.join(media, 'studio')

  // Outside the tree: a secret WAV, a JSON file, and a FIFO (opening it for reading would block the import forever).
  const secret = wavBytes(0.5, {seed: 9})
  await put(path.join(outside, 'secret.wav'), secret)
  await put(
    path.join(outside, 'meta.json'),
    json({stems: {vocals: {stem_type: 'vocals', measured_lufs: -1}}}),
  )
  execFileSync('mkfifo', [path.join(outside, 'fifo')])
  const trapAtime = new Date('2001-01-01T00:00:00Z')
  for (const name of ['secret.wav', 'meta.json'])
    await utimes(path.join(outside, name), trapAtime, new Date())

  await put(
    path.join(app, 'config.yaml'),
    `# unset placeholders everywhere, as in the real config
auth:
  jwt_secret: \${AEDB_TEST_UNSET_JWT_SECRET}
  google_client_id: \${AEDB_TEST_UNSET_CLIENT}
r2:
  bucket_name: \${AEDB_TEST_UNSET_BUCKET}
gpu_worker_url: \${AEDB_TEST_UNSET_GPU}
strategies:
  two:
    _: "model.ckpt"
    vocals: vocals
    other: other
profiles:
  - name: "studio"
    source_folder: "./input/studio"
    strategy: "two"
    output:
      format: "wav"
      bitrate: 128
  - name: "remote only"
    source_folder: "${UNSET_SOURCE_FOLDER}"
    strategy: "two"
    output:
      format: "opus"
`,
  )
  await put(path.join(media, 'profiles.json'), json({profiles: []}))
  await put(path.join(media, '.DS_Store'), Buffer.from([0, 0, 0, 1, 0x42, 0x75, 0x64, 0x31]))
  await put(path.join(p, 'tracks.json'), json({tracks: []}))
  await put(path.join(p, '._tracks.json'), Buffer.from([0, 5, 22, 7]))

  // Sources: one whose folder links by suffix, one NFD-named (the legacy name rule gives Bjo_rk), one changed.
  const songSource = wavBytes(1, {seed: 1})
  const bjorkSource = wavBytes(0.75, {seed: 2})
  const changedPromised = wavBytes(0.6, {seed: 3})
  const changedNow = wavBytes(0.6, {seed: 4})
  await put(path.join(app, 'input', 'studio', 'song one.wav'), songSource)
  await put(path.join(app, 'input', 'studio', 'Bjo\u0308rk.wav'), bjorkSource)
  await put(path.join(app, 'input', 'studio', 'changed.wav'), changedNow)
  await put(path.join(app, 'input', 'studio', 'cut.wav'), wavBytes(0.5, {seed: 5}).subarray(0, 1000))
  await put(path.join(app, 'input', 'studio', '._song one.wav'), Buffer.from([0, 5, 22, 7]))
  const song8 = sha256(songSource).slice(0, 8)
  const changed8 = sha256(changedPromised).slice(0, 8)
  await put(
    path.join(p, '.processed_hashes.json'),
    json({
      [sha256(changedPromised)]: `changed_${changed8}`,
      ['f'.repeat(64)]: 'never_made_ffffffff',
      // The same hash again in capitals: one entry.
      ['F'.repeat(64)]: 'never_made_ffffffff',
    }),
  )

  const stemWav = (seed: number) => wavBytes(0.5, {seed: 10 + seed})

  // v4, unknown keys, NFD display name, AppleDouble files beside the stems.
  const song = path.join(p, `song_one_${song8}`)
  await put(
    path.join(song, 'metadata.json'),
    json({
      stems: {
        vocals: {
          stem_type: 'vocals',
          measured_lufs: -18.25,
          peak_amplitude: 0.5,
          stem_gain_adjustment_db: -4.75,
          stem_url: 'vocals.wav',
          waveform_url: 'vocals_waveform.png',
          bpm: 120,
        },
        other: {
          stem_type: 'accompaniment',
          measured_lufs: null,
          peak_amplitude: 0.001,
          stem_gain_adjustment_db: 0,
          stem_url: 'other.wav',
          waveform_url: 'other_waveform.png',
        },
      },
      display_name: 'Cafe\u0301 take',
      color: 'red',
      tags: ['a', 1],
    }),
  )
  await put(path.join(song, 'vocals.wav'), stemWav(1))
  await put(path.join(song, 'other.wav'), stemWav(2))
  await put(path.join(song, 'vocals_waveform.png'), Buffer.from('\x89PNG\r\n\x1a\nfake'))
  await put(path.join(song, '._vocals.wav'), Buffer.from([0, 5, 22, 7]))
  await put(path.join(song, '._metadata.json'), Buffer.from([0, 5, 22, 7]))

  // v0 with bare -Infinity and NaN, no suffix; source found by the NFD name rule; folder name itself NFD-free.
  await put(
    path.join(p, 'Bjo_rk', 'metadata.json'),
    `{\n  "vocals": {\n    "stem_type": "vocals",\n    "measured_lufs": -Infinity,\n    "target_lufs": -23.0,\n    "stem_gain_adjustment_db": 0.0\n  },\n  "other": {\n    "stem_type": "other",\n    "measured_lufs": NaN,\n    "target_lufs": -23.0,\n    "stem_gain_adjustment_db": -1.0\n  }\n}`,
  )
  await put(path.join(p, 'Bjo_rk', 'vocals.wav'), stemWav(3))
  await put(path.join(p, 'Bjo_rk', 'other.opus'), Buffer.alloc(0))

  // A folder whose name is NFD on disk (a tree copied through macOS).
  const nfd = path.join(p, 'Cafe\u0301_12345678')
  await put(
    path.join(nfd, 'metadata.json'),
    json({stems: {vocals: {stem_type: 'vocals', measured_lufs: -20}}}),
  )
  await put(path.join(nfd, 'vocals.wav'), stemWav(4))

  // v3: a missing stem, a zero-byte stem, a truncated WAV and a raw ADTS AAC stem.
  const broken = path.join(p, 'broken_stems_aaaaaaaa')
  const full = stemWav(5)
  await put(
    path.join(broken, 'metadata.json'),
    json({
      stems: {
        vocals: {
          stem_type: 'vocals',
          measured_lufs: -20,
          peak_amplitude: 0.4,
          stem_gain_adjustment_db: 1,
          stem_url: 'vocals.wav',
          waveform_url: 'vocals_waveform.png',
        },
        drums: {
          stem_type: 'drums',
          measured_lufs: -21,
          peak_amplitude: 0.4,
          stem_gain_adjustment_db: 1,
          stem_url: 'drums.wav',
          waveform_url: 'drums_waveform.png',
        },
        bass: {
          stem_type: 'bass',
          measured_lufs: -22,
          peak_amplitude: 0.4,
          stem_gain_adjustment_db: 1,
          stem_url: 'bass.wav',
          waveform_url: 'bass_waveform.png',
        },
        other: {
          stem_type: 'other',
          measured_lufs: -23,
          peak_amplitude: 0.4,
          stem_gain_adjustment_db: 1,
          stem_url: 'other.aac',
          waveform_url: 'other_waveform.png',
        },
      },
    }),
  )
  await put(path.join(broken, 'vocals.wav'), full.subarray(0, Math.floor(full.length / 2)))
  await put(path.join(broken, 'bass.wav'), Buffer.alloc(0))
  await put(path.join(broken, 'other.aac'), adtsBytes(108, 300))

  // The earliest era: no metadata.json, loudness JSON in the WAV comment chunk.
  const early = path.join(p, '251018-001')
  await put(
    path.join(early, 'vocals.wav'),
    wavBytes(0.5, {
      seed: 20,
      comment: JSON.stringify({
        stem_type: 'vocals',
        measured_lufs: -19.5,
        target_lufs: -23,
        stem_gain_adjustment_db: 0,
        model: 'htdemucs',
      }),
    }),
  )
  await put(path.join(early, 'drums.wav'), wavBytes(0.5, {seed: 21}))
  await put(path.join(early, '._drums.wav'), Buffer.from([0, 5, 22, 7]))

  // Invalid JSON (a trailing comma), and one that is JSON but no layout.
  await put(
    path.join(p, 'bad_json_bbbbbbbb', 'metadata.json'),
    '{\n  "stems": {\n    "vocals": {\n      "measured_lufs": -20,\n    }\n  }\n}',
  )
  await put(path.join(p, 'bad_json_bbbbbbbb', 'vocals.wav'), stemWav(6))
  await put(
    path.join(p, 'bad_shape_cccccccc', 'metadata.json'),
    json({stems: {vocals: {measured_lufs: 'loud'}}}),
  )

  // A source that changed after processing: the name matches, the hash does not.
  await put(
    path.join(p, `changed_${changed8}`, 'metadata.json'),
    json({
      stems: {vocals: {stem_type: 'vocals', measured_lufs: -20, stem_url: 'vocals.wav'}},
      display_name: '',
    }),
  )
  await put(path.join(p, `changed_${changed8}`, 'vocals.wav'), stemWav(7))

  // Path escapes, each its own recording.
  const escapingRecording = async (
    name: string,
    metadata: unknown,
    extra?: (folder: string) => Promise<void>,
  ) => {
    const folder = path.join(p, name)
    await put(path.join(folder, 'metadata.json'), json(metadata))
    await extra?.(folder)
  }
  const v3 = (stem: Record<string, unknown>) => ({
    stems: {
      vocals: {
        stem_type: 'vocals',
        measured_lufs: -20,
        peak_amplitude: 0.5,
        stem_gain_adjustment_db: 0,
        ...stem,
      },
    },
  })
  await escapingRecording(
    'escape_dotdot_10000001',
    v3({stem_url: '../../../../outside/secret.wav', waveform_url: 'vocals_waveform.png'}),
  )
  await escapingRecording(
    'escape_absolute_10000002',
    v3({stem_url: path.join(outside, 'secret.wav'), waveform_url: 'vocals_waveform.png'}),
  )
  await escapingRecording(
    'escape_symlink_10000003',
    v3({stem_url: 'vocals.wav', waveform_url: 'vocals_waveform.png'}),
    async (folder) => {
      await symlink(path.join(outside, 'secret.wav'), path.join(folder, 'vocals.wav'))
    },
  )
  await escapingRecording(
    'escape_fifo_10000004',
    {stems: {vocals: {stem_type: 'vocals', measured_lufs: -20}}},
    async (folder) => {
      await symlink(path.join(outside, 'fifo'), path.join(folder, 'vocals.opus'))
    },
  )
  await escapingRecording(
    'escape_waveform_10000005',
    v3({stem_url: 'vocals.wav', waveform_url: '/etc/hostname'}),
    async (folder) => {
      await put(path.join(folder, 'vocals.wav'), stemWav(8))
    },
  )
  await escapingRecording('escape_key_10000006', {
    '../../../outside/secret': {stem_type: 'x', measured_lufs: -20, target_lufs: -23},
  })
  await mkdir(path.join(p, 'escape_meta_10000007'), {recursive: true})
  await symlink(path.join(outside, 'meta.json'), path.join(p, 'escape_meta_10000007', 'metadata.json'))
  // A whole recording folder that is a link out of the tree, and a profile folder that is one.
  await symlink(outside, path.join(p, 'linked_folder_10000008'))
  await symlink(outside, path.join(media, 'linked_profile'))

  // FIFOs inside the tree: a stem (imported, never opened) and a metadata.json (rejected, never opened).
  const fifoStem = path.join(p, 'fifo_inside_eeeeeeee')
  await put(
    path.join(fifoStem, 'metadata.json'),
    json(v3({stem_url: 'vocals.wav', waveform_url: 'vocals_waveform.png'})),
  )
  execFileSync('mkfifo', [path.join(fifoStem, 'vocals.wav')])
  await mkdir(path.join(p, 'fifo_meta_ffffffff'), {recursive: true})
  execFileSync('mkfifo', [path.join(p, 'fifo_meta_ffffffff', 'metadata.json')])

  // A profile folder that config.yaml does not know.
  const stray = path.join(media, 'Unlisted Profile', 'solo_dddddddd')
  await put(
    path.join(stray, 'metadata.json'),
    json({stems: {vocals: {stem_type: 'vocals', measured_lufs: -20}}}),
  )
  await put(path.join(stray, 'vocals.opus'), Buffer.from('OggS not really'))

  return {app, outside, secret, trapAtime}
}
