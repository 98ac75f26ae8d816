import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../../src/db/connection.js'
import type {ImportResult} from '../../../src/importers/import-session.js'
import {importJson} from '../../../src/importers/json/import-json.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../../support/backends.js'
import {adtsBytes} from './stemset-trees.js'

const FRAMES = 108

describe.each(testBackends())('import-json: every escaping path, AAC durations (%s)', (backend) => {
  let database: TestDatabase
  let opened: OpenDatabase
  let media: string
  let result: ImportResult

  beforeAll(async () => {
    media = path.join(await mkdtemp(path.join(tmpdir(), 'aedb-stems-')), 'media')
    const folder = async (name: string, metadata: unknown, files: Record<string, Buffer> = {}) => {
      const dir = path.join(media, 'p', name)
      await mkdir(dir, {recursive: true})
      await writeFile(path.join(dir, 'metadata.json'), JSON.stringify(metadata))
      for (const [file, bytes] of Object.entries(files)) await writeFile(path.join(dir, file), bytes)
    }
    await folder('three_escapes_aaaaaaa1', {
      stems: {
        vocals: {stem_type: 'vocals', stem_url: '../../../outside.wav'},
        drums: {stem_type: 'drums', stem_url: '/etc/hostname'},
        bass: {stem_type: 'bass', stem_url: 'bass.aac', waveform_url: '../bass_waveform.png'},
      },
    })
    await folder(
      'aac_stems_aaaaaaa2',
      {
        stems: {
          vocals: {stem_type: 'vocals', stem_url: 'vocals.aac'},
          other: {stem_type: 'other', stem_url: 'other.aac'},
        },
      },
      // 108 frames of AAC-LC silence at 44.1 kHz as an encoder sizes them, and bytes that are no audio at all.
      {
        'vocals.aac': adtsBytes(FRAMES, 300),
        'other.aac': Buffer.from('not audio at all, only text '.repeat(20)),
      },
    )
    database = await createTestDatabase(backend)
    opened = await database.open()
    result = await importJson({db: opened.db, paths: [media]})
  })

  afterAll(async () => {
    await opened?.close()
    await database?.drop()
    if (media) await rm(path.dirname(media), {recursive: true, force: true})
  })

  it('names every path of one metadata.json that leaves the recording folder, in one run', () => {
    const escapes = result.rejected.filter((r) => r.file.includes('three_escapes_aaaaaaa1'))
    expect(escapes.map((r) => [r.code, r.column]).sort()).toEqual([
      ['PATH_ESCAPE', 'stems.bass.waveform_url'],
      ['PATH_ESCAPE', 'stems.drums.stem_url'],
      ['PATH_ESCAPE', 'stems.vocals.stem_url'],
    ])
    expect(escapes.map((r) => r.message).join('\n')).toContain('../../../outside.wav')
    expect(escapes.map((r) => r.message).join('\n')).toContain('/etc/hostname')
    expect(result.files.rejected).toBe(1)
  })

  it('gives a raw ADTS AAC stem its duration, and warns only about the one that is not audio', async () => {
    const rows = await opened.db
      .selectFrom('files')
      .select(['rel_path', 'duration_s', 'probe_error', 'codec'])
      .where('rel_path', 'like', '%aac_stems_aaaaaaa2/%.aac')
      .orderBy('rel_path')
      .execute()
    const [other, vocals] = rows
    expect(vocals).toMatchObject({probe_error: null, codec: 'AAC'})
    // music-metadata counts the frames (it may miss the last one); ffprobe gives the same within a frame.
    expect(vocals!.duration_s).toBeGreaterThan(((FRAMES - 1) * 1024) / 44100 - 0.001)
    expect(vocals!.duration_s).toBeLessThan((FRAMES * 1024) / 44100 + 0.001)
    expect(other).toMatchObject({duration_s: null})
    const unreadable = result.warnings.filter((w) => w.code === 'AUDIO_UNREADABLE').map((w) => w.file)
    expect(unreadable).toEqual(['p/aac_stems_aaaaaaa2/other.aac'])
  })
})
