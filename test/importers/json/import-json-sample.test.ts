import {cp, mkdtemp, readFile, rm, stat, utimes, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../../src/db/connection.js'
import type {ImportResult} from '../../../src/importers/import-session.js'
import {importJson} from '../../../src/importers/json/import-json.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../../support/backends.js'
import {PROJECT_ROOT} from '../../support/run-cli.js'

const FIXTURE = path.join(PROJECT_ROOT, 'fixtures', 'stemset')

interface ManifestFile {
  sha256: string
  size: number | null
  durations: {ffprobe: number | null} | null
  stream?: {sample_rate: number; channels: number}
}
interface Manifest {
  summary: {
    profiles: number
    recording_dirs: number
    stems_listed_total: number
    distinct_source_sha256: number
  }
  profiles: Array<{
    name: string
    source_folder: string
    strategy: string
    output_format: string
    bitrate: number
  }>
  recordings: Array<{
    id: string
    profile: string
    output_name: string
    schema_version: string
    expected_display_name: string
    source: ManifestFile & {state: 'present' | 'missing'; path: string; duplicate_names: string[]}
    stems: Array<
      ManifestFile & {
        stem_type: string
        file: string
        measured_lufs_written: number | null
        loudness_was_minus_inf: boolean
        waveform: {file: string; sha256: string; size: number} | null
      }
    >
  }>
  processed_hashes: Record<string, Record<string, string>>
}

const manifest = JSON.parse(await readFile(path.join(FIXTURE, 'manifest.json'), 'utf8')) as Manifest

describe.each(testBackends())('import-json on the sample tree (%s)', (backend) => {
  let database: TestDatabase
  let opened: OpenDatabase
  let tree: string
  let first: ImportResult
  let again: ImportResult

  beforeAll(async () => {
    database = await createTestDatabase(backend)
    opened = await database.open()
    tree = await mkdtemp(path.join(tmpdir(), 'aedb-stemset-'))
    await cp(FIXTURE, tree, {recursive: true})
    first = await importJson({db: opened.db, paths: [tree], jobs: 4})
  })

  afterAll(async () => {
    await opened?.close()
    await database?.drop()
    if (tree) await rm(tree, {recursive: true, force: true})
  })

  const recordingsQuery = () =>
    opened.db
      .selectFrom('recordings as r')
      .innerJoin('profiles as p', 'p.id', 'r.profile_id')
      .leftJoin('source_audio as s', 's.id', 'r.source_audio_id')
      .select([
        'r.id',
        'p.name as profile',
        'r.folder_name',
        'r.display_name',
        'r.metadata_layout',
        'r.source_link',
        'r.folder_hash_suffix',
      ])
      .select(['s.sha256', 's.size_bytes', 's.duration_s', 's.sample_rate_hz', 's.channels'])

  it('imports every profile, recording and stem of the manifest, rejecting nothing', async () => {
    expect(first.rejected).toEqual([])
    // The one twist of the sample that deserves a word: an index entry whose folder was never made.
    expect(first.warnings).toEqual([
      {
        file: 'media/h4n/.processed_hashes.json',
        code: 'INDEX_ENTRY_WITHOUT_FOLDER',
        message: expect.stringContaining(
          'sources/h4n/STEREO/FOLDER02/251026-003.wav to 251026-003_d712c0af, which does not exist',
        ),
      },
    ])
    expect(first.files).toEqual({seen: 10, imported: 10, unchanged: 0, rejected: 0, skipped: 0})
    const count = async (table: 'profiles' | 'recordings' | 'stems' | 'processed_hashes' | 'source_audio') =>
      Number(
        (
          await opened.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      )
    expect(await count('profiles')).toBe(manifest.summary.profiles)
    expect(await count('recordings')).toBe(manifest.summary.recording_dirs)
    expect(await count('stems')).toBe(manifest.summary.stems_listed_total)
    expect(await count('source_audio')).toBe(manifest.summary.distinct_source_sha256)
    expect(await count('processed_hashes')).toBe(
      Object.values(manifest.processed_hashes).reduce((n, m) => n + Object.keys(m).length, 0),
    )
  })

  it('takes profiles from config.yaml', async () => {
    const profiles = await opened.db.selectFrom('profiles').selectAll().orderBy('name').execute()
    for (const expected of manifest.profiles) {
      const row = profiles.find((p) => p.name === expected.name)!
      expect(row).toMatchObject({
        in_config: true,
        source_folder: expected.source_folder,
        strategy: expected.strategy,
        output_format: expected.output_format,
        output_bitrate: expected.bitrate,
      })
    }
    expect(profiles.find((p) => p.name === 'one')!.extra).toEqual({remote: true})
  })

  it('gives every stem the SHA-256, size, duration and stream of the manifest', async () => {
    const rows = await opened.db
      .selectFrom('stems as st')
      .innerJoin('recordings as r', 'r.id', 'st.recording_id')
      .innerJoin('profiles as p', 'p.id', 'r.profile_id')
      .innerJoin('files as f', 'f.id', 'st.file_id')
      .leftJoin('files as w', 'w.id', 'st.waveform_file_id')
      .select([
        'p.name as profile',
        'r.folder_name',
        'st.stem_type',
        'st.measured_lufs',
        'f.rel_path',
        'f.sha256',
        'f.size_bytes',
        'f.duration_s',
        'f.sample_rate_hz',
        'f.channels',
        'f.present',
      ])
      .select(['w.sha256 as waveform_sha256', 'w.size_bytes as waveform_size'])
      .execute()
    let checked = 0
    for (const recording of manifest.recordings) {
      for (const stem of recording.stems) {
        const row = rows.find(
          (r) =>
            r.profile === recording.profile &&
            r.folder_name === recording.output_name.normalize('NFC') &&
            r.stem_type === stem.stem_type,
        )
        expect(row, `${recording.id} ${stem.stem_type}`).toBeDefined()
        expect(row!.present).toBe(true)
        expect(row!.rel_path.endsWith(`/${stem.file}`)).toBe(true)
        expect(row!.sha256).toBe(stem.sha256)
        expect(row!.size_bytes).toBe(stem.size)
        if (stem.durations?.ffprobe != null)
          expect(Math.abs(row!.duration_s! - stem.durations.ffprobe)).toBeLessThan(0.05)
        expect(row!.sample_rate_hz).toBe(stem.stream!.sample_rate)
        expect(row!.channels).toBe(stem.stream!.channels)
        expect(row!.measured_lufs).toBe(stem.measured_lufs_written)
        expect(row!.waveform_sha256 ?? null).toBe(stem.waveform?.sha256 ?? null)
        expect(row!.waveform_size ?? null).toBe(stem.waveform?.size ?? null)
        checked++
      }
    }
    expect(checked).toBe(manifest.summary.stems_listed_total)
  })

  it('links every recording to its source content, by hashing the source folder where the file exists', async () => {
    const rows = await recordingsQuery().execute()
    for (const recording of manifest.recordings) {
      const row = rows.find(
        (r) => r.profile === recording.profile && r.folder_name === recording.output_name.normalize('NFC'),
      )!
      expect(row, recording.id).toBeDefined()
      expect(row.display_name).toBe(recording.expected_display_name)
      expect(row.metadata_layout).toBe(recording.schema_version)
      expect(row.sha256).toBe(recording.source.sha256)
      if (recording.source.state === 'present') {
        expect(row.source_link).toBe('hashed_source')
        expect(row.size_bytes).toBe(recording.source.size)
        expect(Math.abs(row.duration_s! - recording.source.durations!.ffprobe!)).toBeLessThan(0.05)
        expect(row.sample_rate_hz).toBe(recording.source.stream!.sample_rate)
        expect(row.channels).toBe(recording.source.stream!.channels)
        const file = await opened.db
          .selectFrom('files')
          .select(['sha256', 'size_bytes'])
          .where('rel_path', '=', recording.source.path)
          .executeTakeFirstOrThrow()
        expect(file).toEqual({sha256: recording.source.sha256, size_bytes: recording.source.size})
      }
    }
  })

  it('stores the duplicate source once, shared by both profiles, and hashes its copy too', async () => {
    const dup = manifest.recordings.filter(
      (r) => r.source.sha256 === manifest.recordings.find((x) => x.id === 'one-v4-dup-a')!.source.sha256,
    )
    expect(dup.map((r) => r.id).sort()).toEqual(['garage-v4-dup-b', 'one-v4-dup-a'])
    const rows = await recordingsQuery().where('s.sha256', '=', dup[0]!.source.sha256).execute()
    expect(rows.map((r) => r.profile).sort()).toEqual(['Garage Sessions', 'one'])
    const sources = await opened.db
      .selectFrom('source_audio')
      .selectAll()
      .where('sha256', '=', dup[0]!.source.sha256)
      .execute()
    expect(sources).toHaveLength(1)
    const copies = await opened.db
      .selectFrom('files')
      .select('rel_path')
      .where('sha256', '=', dup[0]!.source.sha256)
      .orderBy('rel_path')
      .execute()
    expect(copies.map((c) => c.rel_path)).toEqual(
      [
        'input/Garage Sessions/jam_2025-10-28.wav',
        ...dup[0]!.source.duplicate_names,
        'input/one/jam_2025-10-28.wav',
      ].sort(),
    )
  })

  it('links the recording whose source was deleted through .processed_hashes.json, with nothing but the hash', async () => {
    const missing = manifest.recordings.find((r) => r.source.state === 'missing')!
    const row = await recordingsQuery()
      .where('r.folder_name', '=', missing.output_name)
      .executeTakeFirstOrThrow()
    expect(row).toMatchObject({
      source_link: 'processed_hashes',
      sha256: missing.source.sha256,
      size_bytes: null,
      duration_s: null,
      folder_hash_suffix: missing.source.sha256.slice(0, 8),
    })
  })

  it('keeps the silent stem with a null loudness', async () => {
    const silent = manifest.recordings.flatMap((r) =>
      r.stems.filter((s) => s.loudness_was_minus_inf).map((s) => ({r, s})),
    )
    expect(silent).toHaveLength(1)
    const row = await opened.db
      .selectFrom('stems')
      .innerJoin('recordings', 'recordings.id', 'stems.recording_id')
      .select(['stems.measured_lufs', 'stems.peak_amplitude', 'stems.source_path'])
      .where('recordings.folder_name', '=', silent[0]!.r.output_name)
      .where('stems.stem_type', '=', silent[0]!.s.stem_type)
      .executeTakeFirstOrThrow()
    expect(row.measured_lufs).toBeNull()
    expect(row.peak_amplitude).not.toBeNull()
    expect(row.source_path).toBe(`stems.${silent[0]!.s.stem_type}`)
  })

  it('reads the v0 folder: flat layout, target_lufs, no suffix, source found by the legacy name rule', async () => {
    const v0 = manifest.recordings.find((r) => r.schema_version === 'v0')!
    const row = await recordingsQuery().where('r.folder_name', '=', v0.output_name).executeTakeFirstOrThrow()
    expect(row).toMatchObject({
      metadata_layout: 'v0',
      display_name: v0.output_name,
      folder_hash_suffix: null,
      source_link: 'hashed_source',
      sha256: v0.source.sha256,
    })
    const stems = await opened.db
      .selectFrom('stems')
      .selectAll()
      .where('recording_id', '=', row.id)
      .orderBy('stem_type')
      .execute()
    expect(stems.map((s) => s.stem_type)).toEqual(['bass', 'drums', 'other', 'vocals'])
    for (const stem of stems) {
      expect(stem.target_lufs).toBe(-23)
      expect(stem.stem_url).toBeNull()
      expect(stem.waveform_file_id).toBeNull()
      expect(stem.source_path).toBe(stem.stem_type)
    }
  })

  it('records v2 API-route waveforms as URLs and links the PNG beside the stem', async () => {
    const rows = await opened.db
      .selectFrom('stems')
      .innerJoin('recordings', 'recordings.id', 'stems.recording_id')
      .select(['stems.waveform_url', 'stems.waveform_file_id', 'recordings.metadata_layout'])
      .where('recordings.metadata_layout', '=', 'v2')
      .execute()
    expect(rows).toHaveLength(4)
    for (const row of rows) {
      expect(row.waveform_url).toMatch(/^\/api\/profiles\/one\/songs\/take_5_132df89d\/stems\/\w+\/waveform$/)
      expect(row.waveform_file_id).not.toBeNull()
    }
  })

  it('changes nothing when run again', async () => {
    again = await importJson({db: opened.db, paths: [tree], jobs: 2})
    expect(again.rejected).toEqual([])
    expect(again.files).toMatchObject({seen: 10, imported: 0, unchanged: 10})
    for (const [table, counts] of Object.entries(again.tables)) {
      expect({table, ...counts}).toMatchObject({table, inserted: 0, updated: 0})
    }
    // Skipped recordings are counted as a re-read would count them: every row the first run counted, unchanged.
    expect(Object.keys(again.tables)).toEqual(Object.keys(first.tables))
    for (const [table, counts] of Object.entries(first.tables))
      expect({table, unchanged: again.tables[table]!.unchanged}).toEqual({
        table,
        unchanged: counts.inserted + counts.updated + counts.unchanged,
      })
    const audit = await opened.db
      .selectFrom('audit_log')
      .select('id')
      .where('run_id', '=', again.runId)
      .execute()
    expect(audit).toEqual([])
  })

  it("records each metadata.json's bytes in source_imports; an import made before that gets them on the next run", async () => {
    const recorded = () =>
      opened.db
        .selectFrom('source_imports as si')
        .innerJoin('files as f', 'f.id', 'si.file_id')
        .select(['f.rel_path', 'si.importer', 'si.sha256', 'f.sha256 as file_sha256'])
        .orderBy('f.rel_path')
        .execute()
    const metadataFiles = await opened.db
      .selectFrom('files')
      .select('rel_path')
      .where('kind', '=', 'metadata_json')
      .orderBy('rel_path')
      .execute()
    const before = await recorded()
    expect(before.map((r) => r.rel_path)).toEqual(metadataFiles.map((f) => f.rel_path))
    for (const row of before) expect(row).toMatchObject({importer: 'json', sha256: row.file_sha256})

    await sql`delete from source_imports where importer = 'json'`.execute(opened.db)
    const healed = await importJson({db: opened.db, paths: [tree], jobs: 2})
    expect(healed.tables.source_imports).toMatchObject({inserted: before.length, updated: 0})
    for (const table of ['recordings', 'stems', 'source_audio'])
      expect({table, ...healed.tables[table]}).toMatchObject({table, inserted: 0, updated: 0, deleted: 0})
    expect(await recorded()).toEqual(before)
    const quiet = await importJson({db: opened.db, paths: [tree], jobs: 2})
    expect(quiet.files).toMatchObject({imported: 0, unchanged: 10})
  })

  it('a re-run reads no recording whose files kept their size and mtime; touching one stem re-reads exactly its recording', async () => {
    const one = path.join(tree, 'media', 'one')
    // Same-size edits with the recorded mtime put back: only a read of the file could see them.
    const edits = [
      {file: path.join(one, 'take_5_132df89d', 'metadata.json'), from: '-23.78', to: '-23.77'},
      {file: path.join(one, 'Demo_3_final_aa830cb3', 'metadata.json'), from: '-19.11', to: '-19.12'},
    ]
    const originals = await Promise.all(
      edits.map(async (e) => ({text: await readFile(e.file, 'utf8'), ...(await stat(e.file))})),
    )
    const putBackMtime = async (file: string, mtimeMs: number) => {
      const seconds = (Math.floor(mtimeMs) + 0.5) / 1000
      await utimes(file, seconds, seconds)
    }
    const lufs = async (value: number) =>
      (await opened.db.selectFrom('stems').select('id').where('measured_lufs', '=', value).execute()).length
    try {
      for (const [i, e] of edits.entries()) {
        await writeFile(
          e.file,
          originals[i]!.text.replace(`"measured_lufs": ${e.from}`, `"measured_lufs": ${e.to}`),
        )
        await putBackMtime(e.file, originals[i]!.mtimeMs)
      }
      const skipped = await importJson({db: opened.db, paths: [tree], jobs: 2})
      expect(skipped.files).toMatchObject({seen: 10, imported: 0, unchanged: 10})
      expect(skipped.tables).toEqual(again.tables)
      expect(await lufs(-23.77)).toBe(0)
      expect(await lufs(-19.12)).toBe(0)

      const stem = path.join(one, 'take_5_132df89d', 'vocals.opus')
      const later = (await stat(stem)).mtimeMs / 1000 + 60
      await utimes(stem, later, later)
      const touched = await importJson({db: opened.db, paths: [tree], jobs: 2})
      expect(touched.files).toMatchObject({seen: 10, imported: 1, unchanged: 9})
      expect(touched.tables.recordings).toEqual({inserted: 0, updated: 0, unchanged: 10, deleted: 0})
      expect(touched.tables.stems).toEqual({inserted: 0, updated: 1, unchanged: 35, deleted: 0})
      // Only the stem's new mtime: the metadata.json kept its size and mtime, so its hash comes from the cache.
      expect(touched.tables.files).toMatchObject({inserted: 0, updated: 1})
      expect(await lufs(-23.77)).toBe(1)
      expect(await lufs(-19.12)).toBe(0)
    } finally {
      for (const [i, e] of edits.entries()) await writeFile(e.file, originals[i]!.text)
      await putBackMtime(edits[1]!.file, originals[1]!.mtimeMs)
      // take_5 keeps a new mtime, so this import puts its original values back for the tests after this one.
      await importJson({db: opened.db, paths: [tree]})
    }
    expect(await lufs(-23.77)).toBe(0)
  })

  it('a dry run reports what would change and writes nothing', async () => {
    const file = path.join(tree, 'media', 'one', 'take_5_132df89d', 'metadata.json')
    const original = await readFile(file, 'utf8')
    const {mtimeMs} = await stat(file)
    await writeFile(file, original.replace('"measured_lufs": -23.78', '"measured_lufs": -23.5'))
    try {
      const before = await opened.db.selectFrom('runs').select('id').execute()
      const dry = await importJson({db: opened.db, paths: [tree], dryRun: true})
      expect(dry.dryRun).toBe(true)
      expect(dry.tables.stems).toEqual({inserted: 0, updated: 1, unchanged: 35, deleted: 0})
      expect(await opened.db.selectFrom('runs').select('id').execute()).toEqual(before)
      const stem = await opened.db
        .selectFrom('stems')
        .select('measured_lufs')
        .where('measured_lufs', '=', -23.5)
        .execute()
      expect(stem).toEqual([])
    } finally {
      await writeFile(file, original)
      // Back to the recorded millisecond (mid-millisecond, so float rounding cannot land on the one before).
      const seconds = (Math.floor(mtimeMs) + 0.5) / 1000
      await utimes(file, seconds, seconds)
    }
  })

  it('an edited display_name updates exactly one recording, with its old and new value in the audit log', async () => {
    const file = path.join(tree, 'media', 'Garage Sessions', 'jam_2025-10-28_35966b6a', 'metadata.json')
    const original = await readFile(file, 'utf8')
    expect(original).toContain('"display_name": "Jam 28 Oct"')
    await writeFile(
      file,
      original.replace('"display_name": "Jam 28 Oct"', '"display_name": "Jam, 28 October"'),
    )
    const edited = await importJson({db: opened.db, paths: [tree]})
    expect(edited.tables.recordings).toEqual({inserted: 0, updated: 1, unchanged: 9, deleted: 0})
    expect(edited.tables.stems).toEqual({inserted: 0, updated: 0, unchanged: 36, deleted: 0})
    // The metadata.json file itself changed too (hash, size, mtime): its files row is updated, nothing else.
    expect(edited.tables.files).toMatchObject({inserted: 0, updated: 1})
    const audit = await opened.db
      .selectFrom('audit_log')
      .select(['table_name', 'operation', 'old_values', 'new_values'])
      .where('run_id', '=', edited.runId)
      .where('table_name', '=', 'recordings')
      .execute()
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({
      operation: 'update',
      old_values: {display_name: 'Jam 28 Oct'},
      new_values: {display_name: 'Jam, 28 October'},
    })
    const run = await sql<{outcome: string}>`select outcome from runs where id = ${edited.runId}`.execute(
      opened.db,
    )
    expect(run.rows[0]!.outcome).toBe('succeeded')
  })

  it('a bare media folder without config.yaml never overwrites what config.yaml said of a profile', async () => {
    const bare = await mkdtemp(path.join(tmpdir(), 'aedb-bare-media-'))
    try {
      await cp(path.join(FIXTURE, 'media'), path.join(bare, 'media'), {recursive: true})
      const result = await importJson({db: opened.db, paths: [path.join(bare, 'media')]})
      expect(result.tables.profiles).toEqual({inserted: 0, updated: 0, unchanged: 3, deleted: 0})
      const profiles = await opened.db
        .selectFrom('profiles')
        .select(['name', 'in_config', 'source_folder'])
        .orderBy('name')
        .execute()
      expect(profiles.every((p) => p.in_config && p.source_folder !== null)).toBe(true)
      // Another root: its files are new rows, and its recordings are linked through the hash index and suffixes.
      // Recordings are keyed by (profile, folder), not by root: the copy re-points them to its files (last import
      // wins, which is what re-rooting a moved tree needs), without config.yaml through the hash index.
      const roots = await opened.db.selectFrom('import_roots').select('path').execute()
      expect(roots.map((r) => r.path)).toContain(path.join(bare, 'media'))
      const links = await opened.db
        .selectFrom('recordings')
        .select('source_link')
        .distinct()
        .orderBy('source_link')
        .execute()
      expect(links.map((l) => l.source_link)).toEqual(['folder_suffix', 'processed_hashes'])
    } finally {
      await rm(bare, {recursive: true, force: true})
    }
  })
})
