import {existsSync} from 'node:fs'
import {copyFile, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {gzipSync} from 'node:zlib'
import {sql} from 'kysely'
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {writeBackup} from '../../src/backup/write-backup.js'
import {MIGRATIONS} from '../../src/db/migrations.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {readBackupText, writeResealedBackup, writeSidecar} from '../support/backup-files.js'
import {dumpAllTables} from '../support/db-dump.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

const STEMSET = path.join(PROJECT_ROOT, 'fixtures', 'stemset')
const SYNTHETIC_AUDIT_ROWS = 60_000

let work: string
let source: TestDatabase
let small: string
let big: string

async function backupTo(file: string): Promise<void> {
  const opened = await source.open()
  try {
    await writeBackup({db: opened.db, backend: opened.backend, file, migrations: MIGRATIONS, version: 'test'})
  } finally {
    await opened.close()
  }
}

/** Whether restoring created anything at all: the PGlite folder, or the server database. */
async function targetExists(target: TestDatabase): Promise<boolean> {
  if (target.backend === 'pglite') {
    const folder = target.url.slice('pglite:'.length)
    return existsSync(folder) || existsSync(`${folder}.locks`)
  }
  const client = new pg.Client({connectionString: inject('postgresUrl')!})
  await client.connect()
  try {
    const name = new URL(target.url).pathname.slice(1)
    const {rows} = await client.query('select 1 from pg_database where datname = $1', [name])
    return rows.length > 0
  } finally {
    await client.end()
  }
}

async function dump(target: TestDatabase) {
  const opened = await target.open()
  try {
    return await dumpAllTables(opened.db)
  } finally {
    await opened.close()
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'aedb-restore-'))
  source = await createTestDatabase('pglite')
  const imported = await runCli(['import-json', STEMSET, '--json', '--database-url', source.url])
  expect(imported.exitCode, imported.stderr).toBe(0)
  small = path.join(work, 'small.aedb.gz')
  await backupTo(small)
  // Enough rows that loading takes a while, so the crash test can kill it part-way.
  const opened = await source.open()
  await sql`insert into audit_log (table_name, row_id, operation, new_values)
    select 'files', gen_random_uuid(), 'insert', jsonb_build_object('n', g, 'note', repeat('x', 40))
    from generate_series(1, ${SYNTHETIC_AUDIT_ROWS}) g`.execute(opened.db)
  await opened.close()
  big = path.join(work, 'big.aedb.gz')
  await backupTo(big)
}, 600_000)

afterAll(async () => {
  await source?.drop()
  if (work) await rm(work, {recursive: true, force: true})
})

interface BadFile {
  name: string
  code: string
  exit: number
  message: RegExp
  make(file: string): Promise<void>
}

const BAD_FILES: BadFile[] = [
  {
    name: 'truncated, its .sha256 from the whole file',
    code: 'BACKUP_INVALID',
    exit: 3,
    message: /SHA-256 .* differs from the one in bad\.aedb\.gz\.sha256/,
    async make(file) {
      const bytes = await readFile(small)
      await writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)))
      await copyFile(`${small}.sha256`, `${file}.sha256`)
    },
  },
  {
    name: 'truncated, its .sha256 rewritten to match',
    code: 'BACKUP_INVALID',
    exit: 3,
    message: /truncated/,
    async make(file) {
      const bytes = await readFile(small)
      await writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)))
      await writeSidecar(file)
    },
  },
  {
    name: 'tampered (one value changed, file and .sha256 resealed)',
    code: 'BACKUP_INVALID',
    exit: 3,
    message: /rows of table stems do not match their checksum/,
    async make(file) {
      const lines = await readBackupText(small)
      const stems = lines.findIndex((l) => l.startsWith('{"table":"stems"'))
      lines[stems + 1] = lines[stems + 1]!.replace(/"(vocals|drums|bass|other)"/, '"guitar"')
      await writeResealedBackup(file, lines)
    },
  },
  {
    name: 'not gzip at all',
    code: 'BACKUP_WRONG_FORMAT',
    exit: 3,
    message: /is not an aedb backup/,
    async make(file) {
      await writeFile(file, 'PGDMP this is a pg_dump archive, honest\n')
    },
  },
  {
    name: 'gzip of some other JSON',
    code: 'BACKUP_WRONG_FORMAT',
    exit: 3,
    message: /is not an aedb backup/,
    async make(file) {
      await writeFile(file, gzipSync('{"format":"something-else"}\n'))
      await writeSidecar(file)
    },
  },
  {
    name: 'from a newer aedb (a migration this one does not know)',
    code: 'BACKUP_TOO_NEW',
    exit: 2,
    message: /written by aedb 9\.9\.9/,
    async make(file) {
      const lines = await readBackupText(small)
      const header = JSON.parse(lines[0]!)
      header.aedbVersion = '9.9.9'
      header.schemaVersion = '29991231000000_from_the_future'
      header.migrations.push({name: header.schemaVersion, checksum: '0'.repeat(64)})
      lines[0] = JSON.stringify(header)
      await writeResealedBackup(file, lines)
    },
  },
]

describe.each(testBackends())('aedb restore into %s', (backend) => {
  describe('refuses a bad file and writes nothing', () => {
    let target: TestDatabase
    beforeAll(async () => {
      target = await createTestDatabase(backend, {migrated: false})
    })
    afterAll(async () => {
      await target?.drop()
    })

    it.each(BAD_FILES)('$name', async (bad) => {
      const file = path.join(work, `${backend}-bad`, 'bad.aedb.gz')
      await rm(path.dirname(file), {recursive: true, force: true})
      await mkdir(path.dirname(file), {recursive: true})
      await bad.make(file)
      const run = await runCli(['restore', file, '--json', '--database-url', target.url])
      expect(run.exitCode, run.stderr).toBe(bad.exit)
      const error = JSON.parse(run.stdout).error
      expect(error.code).toBe(bad.code)
      expect(error.message).toMatch(bad.message)
      expect(await targetExists(target)).toBe(false)
    })
  })

  describe('into a database that holds data', () => {
    let target: TestDatabase
    let restored: Record<string, string[]>

    beforeAll(async () => {
      target = await createTestDatabase(backend)
      const run = await runCli(['restore', small, '--json', '--database-url', target.url])
      expect(run.exitCode, run.stderr).toBe(0)
      restored = await dump(target)
    }, 300_000)
    afterAll(async () => {
      await target?.drop()
    })

    it('is refused without --force, nothing changed', async () => {
      const run = await runCli(['restore', big, '--json', '--database-url', target.url])
      expect(run.exitCode).toBe(2)
      expect(JSON.parse(run.stdout).error).toMatchObject({code: 'RESTORE_TARGET_NOT_EMPTY'})
      expect(await dump(target)).toEqual(restored)
    })

    it('killed part-way through loading, is left exactly as it was', async () => {
      const run = await runCli(['restore', big, '--force', '--database-url', target.url], {
        killWhen: ({stderr}) => /loading rows/.test(stderr),
      })
      expect(run.exitCode).toBe(137)
      expect(run.stderr).toMatch(/loading rows/)
      expect(await dump(target)).toEqual(restored)
    })

    it('is replaced all at once with --force', async () => {
      const run = await runCli(['restore', big, '--force', '--json', '--database-url', target.url])
      expect(run.exitCode, run.stderr).toBe(0)
      expect(JSON.parse(run.stdout)).toMatchObject({replaced: true})
      const after = await dump(target)
      expect(after.audit_log!.length).toBe(restored.audit_log!.length + SYNTHETIC_AUDIT_ROWS)
      expect(after.stems).toEqual(restored.stems)
    })
  })
})
