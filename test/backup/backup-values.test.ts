import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type RestoreResult, restoreBackup} from '../../src/backup/restore-backup.js'
import {type BackupResult, writeBackup} from '../../src/backup/write-backup.js'
import {MIGRATIONS} from '../../src/db/migrations.js'
import {getMigrationStatus, migrateUp} from '../../src/db/migrator.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {dumpAllTables} from '../support/db-dump.js'

const HASH = 'ab'.repeat(32)
/** What COPY's text format escapes: tab, backslash, newline, carriage return; and `\N`, its NULL, as a value. */
const ODD_PATH = 'odd/tab\there\\back\nline\rcr.wav'
const BACKSLASH_N = '\\N'

/**
 * Values that lose something on a careless round trip (NaN and infinities in float8 and float8[], microseconds,
 * bigint past 2^53, non-ASCII jsonb), written at the first schema version so the restore also has to migrate.
 */
async function seedAwkwardValues(source: TestDatabase): Promise<void> {
  const opened = await source.open()
  try {
    await migrateUp({db: opened.db, migrations: MIGRATIONS, to: MIGRATIONS[0]!.name})
    await sql`
      with root as (insert into import_roots (id, path) values (gen_random_uuid(), '/data/ünïcode') returning id),
      study as (insert into studies (id, name) values (gen_random_uuid(), 'AOA') returning id),
      person as (insert into participants (id, study_id, participant_number) select gen_random_uuid(), id, 1019 from study returning id),
      log as (
        insert into processing_logs (id, participant_id, knee, maneuver, format_version, log_created, content_hash, extra)
        select gen_random_uuid(), id, 'left', 'walk', 'v4', '2026-01-29 10:11:12.654321', ${HASH},
          '{"Ünïts": "m/s²", "n": [1, 2.5e-300, null], "nested": {"a": "\\"quoted\\"\\n"}}'::jsonb
        from person returning id),
      audio as (
        insert into audio_processing (id, processing_log_id, sample_rate_hz, duration_s, file_size_mb, qc_fail_segments, content_hash)
        select gen_random_uuid(), id, 'NaN', 'Infinity', '-Infinity', '{NaN,Infinity,-Infinity,0.1,1e-320}', ${HASH}
        from log returning id)
      insert into files (id, root_id, rel_path, kind, present, size_bytes, mtime, duration_s, codec, probe_error)
      select gen_random_uuid(), id, 'a/b.wav', 'audio', true, 9007199254740993,
        '2026-01-02 03:04:05.123456+05:30'::timestamptz, 0.30000000000000004::float8, null, null
      from root
      union all
      select gen_random_uuid(), id, ${ODD_PATH}, 'other', false, null, null, null, '', ${BACKSLASH_N}
      from root`.execute(opened.db)
  } finally {
    await opened.close()
  }
}

describe.each(testBackends())(
  'backup of an older schema with awkward values, restored into %s',
  (backend) => {
    let source: TestDatabase
    let target: TestDatabase
    let work: string
    let backup: BackupResult
    let restore: RestoreResult

    beforeAll(async () => {
      work = await mkdtemp(path.join(tmpdir(), 'aedb-backup-values-'))
      source = await createTestDatabase('pglite', {migrated: false})
      target = await createTestDatabase(backend, {migrated: false})
      await seedAwkwardValues(source)
      const opened = await source.open()
      try {
        backup = await writeBackup({
          db: opened.db,
          backend: opened.backend,
          file: path.join(work, 'old.aedb.gz'),
          migrations: MIGRATIONS,
          version: '0.0.1',
        })
      } finally {
        await opened.close()
      }
      restore = await restoreBackup({
        target: target.target,
        file: backup.file,
        migrations: MIGRATIONS,
        version: 'test',
      })
    }, 300_000)

    afterAll(async () => {
      await source?.drop()
      await target?.drop()
      if (work) await rm(work, {recursive: true, force: true})
    })

    it('records the schema version of the backed-up database', () => {
      expect(backup.schemaVersion).toBe(MIGRATIONS[0]!.name)
    })

    it('restores, then migrates the older backup to this aedb', async () => {
      expect(restore.migrationsApplied).toEqual(MIGRATIONS.slice(1).map((m) => m.name))
      expect(restore.schemaVersion).toBe(MIGRATIONS.at(-1)!.name)
      const opened = await target.open()
      try {
        const status = await getMigrationStatus(opened.db, MIGRATIONS)
        expect(status.pending).toEqual([])
        expect(status.problems).toEqual([])
      } finally {
        await opened.close()
      }
    })

    it('keeps every value exactly', async () => {
      const dump = async (db: TestDatabase) => {
        const opened = await db.open()
        try {
          return await dumpAllTables(opened.db, ['restore'])
        } finally {
          await opened.close()
        }
      }
      const before = await dump(source)
      const after = await dump(target)
      // The target was migrated past the backup's schema: its newer tables are compared by their own tests.
      expect(Object.fromEntries(Object.keys(before).map((t) => [t, after[t]]))).toEqual(before)
      const files = after.files!.join('\n')
      expect(files).toContain('9007199254740993')
      expect(files).toContain('2026-01-01 21:34:05.123456+00')

      expect(after.audio_processing![0]).toContain('"{NaN,Infinity,-Infinity,0.1,1e-320}"')
      expect(after.processing_logs![0]).toContain('m/s²')
      expect(after.audit_log).toHaveLength(7)
    })

    it('keeps NULL, the empty string and the text \\N apart, and tabs, newlines and backslashes as they were', async () => {
      const opened = await target.open()
      try {
        const {rows} = await sql<{rel_path: string; codec: string | null; probe_error: string | null}>`
          select rel_path, codec, probe_error from files order by kind`.execute(opened.db)
        expect(rows).toEqual([
          {rel_path: 'a/b.wav', codec: null, probe_error: null},
          {rel_path: ODD_PATH, codec: '', probe_error: BACKSLASH_N},
        ])
      } finally {
        await opened.close()
      }
    })
  },
)
