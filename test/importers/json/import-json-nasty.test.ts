import {mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../../src/db/connection.js'
import type {ImportResult} from '../../../src/importers/import-session.js'
import {importJson} from '../../../src/importers/json/import-json.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../../support/backends.js'
import {buildNastyTree, type NastyTree, sha256, UNSET_SOURCE_FOLDER, wavBytes} from './stemset-trees.js'

describe.each(testBackends())('import-json on a tree with every twist of spec section 7 (%s)', (backend) => {
  let database: TestDatabase
  let opened: OpenDatabase
  let tree: NastyTree
  let result: ImportResult

  beforeAll(async () => {
    tree = await buildNastyTree()
    database = await createTestDatabase(backend)
    opened = await database.open()
    result = await importJson({db: opened.db, paths: [tree.app], jobs: 3})
  })

  afterAll(async () => {
    await opened?.close()
    await database?.drop()
    if (tree) await rm(path.dirname(tree.app), {recursive: true, force: true})
  })

  const recording = (folder: string) =>
    opened.db
      .selectFrom('recordings as r')
      .leftJoin('source_audio as s', 's.id', 'r.source_audio_id')
      .selectAll('r')
      .select(['s.sha256 as source_sha256', 's.size_bytes as source_size'])
      .where('r.folder_name', '=', folder)
      .executeTakeFirst()
  const stems = (folder: string) =>
    opened.db
      .selectFrom('stems as st')
      .innerJoin('recordings as r', 'r.id', 'st.recording_id')
      .leftJoin('files as f', 'f.id', 'st.file_id')
      .selectAll('st')
      .select(['f.rel_path', 'f.present', 'f.sha256', 'f.size_bytes', 'f.duration_s', 'f.probe_error'])
      .where('r.folder_name', '=', folder)
      .orderBy('st.stem_type')
      .execute()
  const rejection = (folder: string) =>
    result.rejected.filter((r) => r.file.includes(`/${folder}/`) || r.file.endsWith(`/${folder}`))
  const warnings = (code: string) => result.warnings.filter((w) => w.code === code)

  it('rejects exactly the bad recordings, imports the rest', () => {
    expect(result.rejected.map((r) => r.file.split('/')[2]).sort()).toEqual([
      'bad_json_bbbbbbbb',
      'bad_shape_cccccccc',
      'escape_absolute_10000002',
      'escape_dotdot_10000001',
      'escape_fifo_10000004',
      'escape_key_10000006',
      'escape_meta_10000007',
      'escape_symlink_10000003',
      'escape_waveform_10000005',
      'fifo_meta_ffffffff',
    ])
    expect(result.files).toEqual({seen: 18, imported: 8, unchanged: 0, rejected: 10, skipped: 0})
  })

  it('rejects invalid JSON saying where the parse failed', () => {
    const [r] = rejection('bad_json_bbbbbbbb')
    expect(r).toMatchObject({
      file: 'media/studio/bad_json_bbbbbbbb/metadata.json',
      code: 'INVALID_JSON',
      column: null,
    })
    expect(r!.message).toContain('at line 5, column 5')
    expect(r!.message).toContain('expected a key in double quotes')
  })

  it('rejects a value of the wrong type naming its JSON path', () => {
    expect(rejection('bad_shape_cccccccc')).toEqual([
      expect.objectContaining({
        code: 'INVALID_METADATA',
        column: 'stems.vocals.measured_lufs',
        message: expect.stringContaining('expected a number, found the string "loud"'),
      }),
    ])
  })

  it('rejects every path that leaves the recording folder, naming the key and the value', () => {
    const expectEscape = (folder: string, column: string, value: string) => {
      const [r] = rejection(folder)
      expect(r, folder).toMatchObject({code: 'PATH_ESCAPE', column})
      expect(r!.message).toContain(value)
    }
    expectEscape('escape_dotdot_10000001', 'stems.vocals.stem_url', '../../../../outside/secret.wav')
    expectEscape('escape_absolute_10000002', 'stems.vocals.stem_url', path.join(tree.outside, 'secret.wav'))
    expectEscape(
      'escape_symlink_10000003',
      'stems.vocals.stem_url',
      '"vocals.wav" is a symbolic link that leads outside',
    )
    expectEscape(
      'escape_fifo_10000004',
      'stems.vocals',
      '"vocals.opus" is a symbolic link that leads outside',
    )
    expectEscape('escape_waveform_10000005', 'stems.vocals.waveform_url', '/etc/hostname')
    expectEscape('escape_key_10000006', '["../../../outside/secret"]', '../../../outside/secret')
    expectEscape('escape_meta_10000007', 'metadata.json', 'symbolic link')
  })

  it('never opened, hashed or stored anything outside the tree', async () => {
    // The FIFO: opening it for reading would have blocked this import forever. The files: any read moves atime.
    for (const name of ['secret.wav', 'meta.json']) {
      expect((await stat(path.join(tree.outside, name))).atime.getTime(), name).toBe(tree.trapAtime.getTime())
    }
    const files = await opened.db.selectFrom('files').select(['rel_path', 'sha256']).execute()
    expect(files.filter((f) => f.sha256 === sha256(tree.secret))).toEqual([])
    expect(
      files.filter(
        (f) => f.rel_path.includes('outside') || f.rel_path.includes('..') || f.rel_path.startsWith('/'),
      ),
    ).toEqual([])
    const metaHash = sha256(await readFile(path.join(tree.outside, 'meta.json')))
    expect(files.filter((f) => f.sha256 === metaHash)).toEqual([])
    const rejectedFolders = await opened.db
      .selectFrom('recordings')
      .select('folder_name')
      .where('folder_name', 'like', 'escape_%')
      .execute()
    expect(rejectedFolders).toEqual([])
    expect(
      warnings('SYMLINK_NOT_FOLLOWED')
        .map((w) => w.file)
        .sort(),
    ).toEqual(['media/linked_profile', 'media/studio/linked_folder_10000008'])
  })

  it('the atime trap is sound on this filesystem (a read does move atime)', async () => {
    const {utimes, writeFile} = await import('node:fs/promises')
    const control = path.join(tree.outside, 'control.bin')
    await writeFile(control, 'x')
    await utimes(control, tree.trapAtime, new Date())
    await readFile(control)
    expect((await stat(control)).atime.getTime()).toBeGreaterThan(tree.trapAtime.getTime())
  })

  it('never opens a FIFO inside the tree either: a stem keeps an unread file, a metadata.json is rejected', async () => {
    const rows = await stems('fifo_inside_eeeeeeee')
    expect(rows).toEqual([
      expect.objectContaining({
        stem_type: 'vocals',
        present: true,
        sha256: null,
        size_bytes: null,
        duration_s: null,
      }),
    ])
    expect(rows[0]!.probe_error).toContain('not a regular file')
    expect(warnings('AUDIO_UNREADABLE').map((w) => w.file)).toContain(
      'media/studio/fifo_inside_eeeeeeee/vocals.wav',
    )
    expect(rejection('fifo_meta_ffffffff')).toEqual([
      expect.objectContaining({code: 'NOT_A_FILE', file: 'media/studio/fifo_meta_ffffffff/metadata.json'}),
    ])
  })

  it('reads config.yaml with unset $-placeholders, and profiles that only exist as folders', async () => {
    const profiles = await opened.db.selectFrom('profiles').selectAll().orderBy('name').execute()
    expect(profiles.map((p) => [p.name, p.in_config])).toEqual([
      ['Unlisted Profile', false],
      ['remote only', true],
      ['studio', true],
    ])
    expect(profiles.find((p) => p.name === 'studio')).toMatchObject({
      source_folder: './input/studio',
      strategy: 'two',
      output_format: 'wav',
      output_bitrate: 128,
      source_path: 'profiles[0]',
    })
    expect(profiles.find((p) => p.name === 'remote only')!.source_folder).toBe(UNSET_SOURCE_FOLDER)
    expect(warnings('PROFILE_NOT_IN_CONFIG').map((w) => w.file)).toEqual(['media/Unlisted Profile'])
    expect(warnings('SOURCE_FOLDER_UNREADABLE')).toHaveLength(1)
  })

  it('keeps unknown keys verbatim, takes the stem type from the key and normalises names to NFC', async () => {
    const song = (await opened.db
      .selectFrom('recordings')
      .selectAll()
      .where('folder_name', 'like', 'song_one_%')
      .executeTakeFirstOrThrow())!
    expect(song.extra).toEqual({color: 'red', tags: ['a', 1]})
    expect(song.display_name).toBe('Caf\u00e9 take')
    expect(song.metadata_layout).toBe('v4')
    expect(song.source_link).toBe('hashed_source')
    const rows = await stems(song.folder_name)
    expect(rows.map((s) => [s.stem_type, s.extra])).toEqual([
      ['other', {stem_type: 'accompaniment'}],
      ['vocals', {bpm: 120}],
    ])
    expect(rows.find((s) => s.stem_type === 'other')!.measured_lufs).toBeNull()
    expect(await recording('Caf\u00e9_12345678')).toMatchObject({
      folder_name: 'Caf\u00e9_12345678',
      source_link: 'none',
      source_audio_id: null,
      folder_hash_suffix: '12345678',
    })
    const nfdFile = await opened.db
      .selectFrom('files')
      .select('rel_path')
      .where('rel_path', 'like', '%vocals.wav')
      .where('rel_path', 'like', 'media/studio/Cafe%')
      .executeTakeFirstOrThrow()
    expect(nfdFile.rel_path).toBe('media/studio/Cafe\u0301_12345678/vocals.wav')
  })

  it('reads v0 bare -Infinity and NaN, and links an NFD-named source by the legacy name rule', async () => {
    const row = await recording('Bjo_rk')
    expect(row).toMatchObject({metadata_layout: 'v0', source_link: 'hashed_source', folder_hash_suffix: null})
    const source = await opened.db
      .selectFrom('files')
      .select('sha256')
      .where('rel_path', '=', 'input/studio/Bjo\u0308rk.wav')
      .executeTakeFirstOrThrow()
    expect(row!.source_sha256).toBe(source.sha256)
    const rows = await stems('Bjo_rk')
    expect(rows.find((s) => s.stem_type === 'vocals')!.measured_lufs).toBe(Number.NEGATIVE_INFINITY)
    expect(rows.find((s) => s.stem_type === 'other')!.measured_lufs).toBeNaN()
    expect(rows.find((s) => s.stem_type === 'other')!.target_lufs).toBe(-23)
  })

  it('imports missing, zero-byte and truncated stems with their hash, a null duration and a warning; AAC with its duration', async () => {
    const rows = await stems('broken_stems_aaaaaaaa')
    const by = Object.fromEntries(rows.map((r) => [r.stem_type, r]))
    expect(by.drums).toMatchObject({
      present: false,
      sha256: null,
      size_bytes: null,
      rel_path: 'media/studio/broken_stems_aaaaaaaa/drums.wav',
    })
    expect(by.bass).toMatchObject({present: true, sha256: sha256(''), size_bytes: 0, duration_s: null})
    expect(by.vocals).toMatchObject({
      present: true,
      duration_s: null,
      probe_error: expect.stringContaining('truncated WAV'),
    })
    expect(by.vocals!.sha256).toMatch(/^[0-9a-f]{64}$/)
    // Raw ADTS AAC: 108 frames of 1024 samples at 44.1 kHz, counted by music-metadata (it may miss the last one).
    expect(by.other).toMatchObject({present: true, probe_error: null})
    expect(by.other!.duration_s).toBeGreaterThan((107 * 1024) / 44100 - 0.001)
    expect(by.other!.duration_s).toBeLessThan((108 * 1024) / 44100 + 0.001)
    expect(by.other!.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(warnings('STEM_MISSING').map((w) => w.file)).toEqual([
      'media/studio/broken_stems_aaaaaaaa/drums.wav',
    ])
    const unreadable = warnings('AUDIO_UNREADABLE').map((w) => w.file)
    for (const name of ['vocals.wav', 'bass.wav'])
      expect(unreadable).toContain(`media/studio/broken_stems_aaaaaaaa/${name}`)
    expect(unreadable).not.toContain('media/studio/broken_stems_aaaaaaaa/other.aac')
    expect(unreadable).toContain('media/studio/Bjo_rk/other.opus')
    expect(unreadable).toContain('media/Unlisted Profile/solo_dddddddd/vocals.opus')
    expect(unreadable).toContain('input/studio/cut.wav')
  })

  it('imports a folder without metadata.json from its stems, loudness from the comment tag', async () => {
    expect(await recording('251018-001')).toMatchObject({
      metadata_layout: 'none',
      source_file_id: null,
      display_name: '251018-001',
    })
    const rows = await stems('251018-001')
    expect(rows.map((s) => s.stem_type)).toEqual(['drums', 'vocals'])
    expect(rows[1]).toMatchObject({
      measured_lufs: -19.5,
      target_lufs: -23,
      stem_gain_adjustment_db: 0,
      extra: {model: 'htdemucs'},
      stem_url: null,
    })
    expect(rows[0]).toMatchObject({measured_lufs: null, extra: {}})
    expect(rows[1]!.duration_s).toBeCloseTo(0.5, 2)
    expect(warnings('NO_METADATA_JSON').map((w) => w.file)).toEqual(['media/studio/251018-001'])
  })

  it('warns when a source changed after processing and links what was promised, not the new bytes', async () => {
    const changed = (await opened.db
      .selectFrom('recordings')
      .selectAll()
      .where('folder_name', 'like', 'changed_%')
      .executeTakeFirstOrThrow())!
    const index = await opened.db
      .selectFrom('processed_hashes')
      .select(['sha256', 'folder_name'])
      .where('folder_name', '=', changed.folder_name)
      .executeTakeFirstOrThrow()
    const row = await recording(changed.folder_name)
    expect(row).toMatchObject({
      source_link: 'processed_hashes',
      source_sha256: index.sha256,
      source_size: null,
    })
    expect(warnings('SOURCE_CHANGED')).toEqual([
      expect.objectContaining({
        file: `media/studio/${changed.folder_name}`,
        message: expect.stringContaining('changed after processing'),
      }),
    ])
  })

  it('ignores AppleDouble files, .DS_Store and stray manifests, and keeps index entries for folders never made', async () => {
    const files = await opened.db.selectFrom('files').select('rel_path').execute()
    expect(
      files.filter((f) => /(^|\/)(\._|\.DS_Store|tracks\.json|profiles\.json)/.test(f.rel_path)),
    ).toEqual([])
    const never = await opened.db
      .selectFrom('processed_hashes')
      .selectAll()
      .where('folder_name', '=', 'never_made_ffffffff')
      .execute()
    expect(never).toHaveLength(1)
    expect(warnings('INDEX_ENTRY_WITHOUT_FOLDER').map((w) => w.message)).toEqual([
      expect.stringContaining('to never_made_ffffffff'),
    ])
  })

  it('changes nothing when run again, and rejects the same recordings', async () => {
    const again = await importJson({db: opened.db, paths: [tree.app], jobs: 1})
    for (const [table, counts] of Object.entries(again.tables))
      expect({table, ...counts}).toMatchObject({table, inserted: 0, updated: 0})
    expect(again.rejected.map((r) => r.file).sort()).toEqual(result.rejected.map((r) => r.file).sort())
    expect(again.files).toMatchObject({imported: 0, unchanged: 8, rejected: 10})
    expect(
      await opened.db.selectFrom('audit_log').select('id').where('run_id', '=', again.runId).execute(),
    ).toEqual([])
  })

  it('reports a recording whose folder vanished, and keeps its rows', async () => {
    const gone = path.join(tree.app, 'media', 'studio', '251018-001')
    await rm(gone, {recursive: true})
    const again = await importJson({db: opened.db, paths: [tree.app]})
    expect(again.warnings.filter((w) => w.code === 'RECORDING_NOT_ON_DISK').map((w) => w.file)).toEqual([
      'media/studio/251018-001',
    ])
    expect(await recording('251018-001')).toBeDefined()
    expect(
      await opened.db
        .selectFrom('audit_log')
        .select('id')
        .where('run_id', '=', again.runId)
        .where('operation', '=', 'delete')
        .execute(),
    ).toEqual([])
  })

  it('imports a single recording folder given on its own, into the same root', async () => {
    const single = await importJson({
      db: opened.db,
      paths: [path.join(tree.app, 'media', 'studio', 'Bjo_rk')],
    })
    expect(single.files).toMatchObject({seen: 1, unchanged: 1})
    for (const [table, counts] of Object.entries(single.tables))
      expect({table, ...counts}).toMatchObject({table, inserted: 0, updated: 0})
  })
})

describe('import-json with config.yaml and .processed_hashes.json that lead out of the tree', () => {
  let database: TestDatabase
  let opened: OpenDatabase
  let base: string

  beforeAll(async () => {
    database = await createTestDatabase('pglite')
    opened = await database.open()
    base = await mkdtemp(path.join(tmpdir(), 'aedb-linked-config-'))
    const app = path.join(base, 'app')
    const outside = path.join(base, 'outside')
    await mkdir(path.join(app, 'media', 'p', 'rec_aaaaaaaa'), {recursive: true})
    await mkdir(path.join(app, 'input'), {recursive: true})
    await mkdir(outside, {recursive: true})
    await writeFile(path.join(outside, 'config.yaml'), 'profiles:\n  - name: p\n    source_folder: ./input\n')
    await writeFile(path.join(outside, 'hashes.json'), JSON.stringify({['a'.repeat(64)]: 'rec_aaaaaaaa'}))
    await writeFile(path.join(outside, 'source.wav'), wavBytes(0.25, {seed: 30}))
    await symlink(path.join(outside, 'config.yaml'), path.join(app, 'config.yaml'))
    await symlink(path.join(outside, 'hashes.json'), path.join(app, 'media', 'p', '.processed_hashes.json'))
    await symlink(path.join(outside, 'source.wav'), path.join(app, 'input', 'linked.wav'))
    await writeFile(
      path.join(app, 'media', 'p', 'rec_aaaaaaaa', 'metadata.json'),
      JSON.stringify({stems: {vocals: {measured_lufs: -20}}}),
    )
    await writeFile(path.join(app, 'media', 'p', 'rec_aaaaaaaa', 'vocals.opus'), Buffer.alloc(0))
  })

  afterAll(async () => {
    await opened?.close()
    await database?.drop()
    if (base) await rm(base, {recursive: true, force: true})
  })

  it('rejects both files, follows no source link, and still imports the recording', async () => {
    const result = await importJson({db: opened.db, paths: [path.join(base, 'app')]})
    expect(result.rejected.map((r) => [r.file, r.code])).toEqual([
      ['config.yaml', 'PATH_ESCAPE'],
      ['media/p/.processed_hashes.json', 'PATH_ESCAPE'],
    ])
    expect(result.files).toMatchObject({imported: 1, rejected: 0})
    const files = await opened.db.selectFrom('files').select('rel_path').orderBy('rel_path').execute()
    expect(files.map((f) => f.rel_path)).toEqual([
      'media/p/rec_aaaaaaaa/metadata.json',
      'media/p/rec_aaaaaaaa/vocals.opus',
    ])
    const profile = await opened.db.selectFrom('profiles').selectAll().executeTakeFirstOrThrow()
    expect(profile).toMatchObject({name: 'p', in_config: false})
    expect(await opened.db.selectFrom('processed_hashes').selectAll().execute()).toEqual([])
  })
})
