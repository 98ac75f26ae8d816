import {createHash} from 'node:crypto'
import {cp, mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {RestoreResult} from '../../src/backup/restore-backup.js'
import type {BackupResult} from '../../src/backup/write-backup.js'
import {type BackendName, createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {dumpAllTables} from '../support/db-dump.js'
import {snapshotData} from '../support/db-snapshot.js'
import {kneeSampleDir} from '../support/knee-samples.js'
import {V4} from '../support/knee-trees.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

const STEMSET = path.join(PROJECT_ROOT, 'fixtures', 'stemset')
/** The run each command records about itself: not part of the data moved. */
const OWN_RUNS = ['backup', 'restore'] as const

const directions: Array<[BackendName, BackendName]> = testBackends().includes('postgres')
  ? [
      ['pglite', 'postgres'],
      ['postgres', 'pglite'],
    ]
  : [['pglite', 'pglite']]

describe.each(directions)('aedb backup on %s, aedb restore into %s', (from, to) => {
  let source: TestDatabase
  let target: TestDatabase
  let work: string
  let knee: string
  let file: string
  let backup: BackupResult
  let restore: RestoreResult
  let sourceDump: Record<string, string[]>
  let sourceVerify: {ok: boolean; findings: Array<Record<string, unknown>>}

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aedb-backup-'))
    knee = path.join(work, 'knee')
    await cp(kneeSampleDir(V4), knee, {recursive: true})
    source = await createTestDatabase(from)
    target = await createTestDatabase(to, {migrated: false})
    for (const args of [
      ['backfill-excel', knee],
      ['import-json', STEMSET],
    ]) {
      const run = await runCli([...args, '--json', '--database-url', source.url])
      expect(run.exitCode, run.stderr).toBe(0)
    }
    // The nightly check's history is part of what a backup carries.
    const verified = await runCli(['verify', '--json', '--database-url', source.url])
    expect(verified.exitCode, verified.stderr).toBe(0)
    sourceVerify = JSON.parse(verified.stdout)
    expect(sourceVerify.findings.length).toBeGreaterThan(0)
    file = path.join(work, 'lab.aedb.gz')
    const written = await runCli(['backup', file, '--json', '--database-url', source.url])
    expect(written.exitCode, written.stderr).toBe(0)
    backup = JSON.parse(written.stdout) as BackupResult
    const restored = await runCli(['restore', file, '--json', '--database-url', target.url])
    expect(restored.exitCode, restored.stderr).toBe(0)
    restore = JSON.parse(restored.stdout) as RestoreResult
    const opened = await source.open()
    try {
      sourceDump = await dumpAllTables(opened.db, OWN_RUNS)
    } finally {
      await opened.close()
    }
  }, 600_000)

  afterAll(async () => {
    await source?.drop()
    await target?.drop()
    if (work) await rm(work, {recursive: true, force: true})
  })

  it('writes the file with a sha256sum line beside it and a manifest of every table', async () => {
    const digest = createHash('sha256')
      .update(await readFile(file))
      .digest('hex')
    expect(await readFile(`${file}.sha256`, 'utf8')).toBe(`${digest}  lab.aedb.gz\n`)
    expect(backup.sha256).toBe(digest)
    expect(backup.backend).toBe(from)
    expect(backup.schemaVersion).toMatch(/^\d{14}_/)
    const names = backup.tables.map((t) => t.name)
    expect(names).toEqual(expect.arrayContaining(['runs', 'audit_log', 'processing_logs', 'stems']))
    // Parents before children: a restore without deferred constraints loads in this order.
    expect(names.indexOf('studies')).toBeLessThan(names.indexOf('participants'))
    expect(names.indexOf('processing_logs')).toBeLessThan(names.indexOf('movement_cycles'))
    for (const table of backup.tables) expect(sourceDump[table.name] ?? []).toHaveLength(table.rows)
  })

  it('restores every table with identical rows, and says each one matches', async () => {
    expect(restore.tables.every((t) => t.matches)).toBe(true)
    expect(restore.rows).toBe(backup.rows)
    const opened = await target.open()
    try {
      expect(await dumpAllTables(opened.db, OWN_RUNS)).toEqual(sourceDump)
    } finally {
      await opened.close()
    }
  })

  it('keeps the audit log and the runs, and new audit rows continue after the restored ones', async () => {
    expect(sourceDump.audit_log!.length).toBeGreaterThan(500)
    expect(sourceDump.runs!.some((r) => r.includes('backfill-excel'))).toBe(true)
    const opened = await target.open()
    try {
      const {rows} = await sql<{max: string; next: string}>`
        select (select max(id) from audit_log)::text as max,
          nextval(pg_get_serial_sequence('audit_log', 'id'))::text as next`.execute(opened.db)
      expect(BigInt(rows[0]!.next)).toBe(BigInt(rows[0]!.max) + 1n)
      const own = await opened.db
        .selectFrom('runs')
        .select(['command', 'outcome'])
        .where('command', '=', 'restore')
        .execute()
      expect(own).toEqual([{command: 'restore', outcome: 'succeeded'}])
    } finally {
      await opened.close()
    }
  })

  it('a re-import after the restore changes nothing', async () => {
    const opened = await target.open()
    const before = await snapshotData(opened.db)
    const auditBefore = await opened.db
      .selectFrom('audit_log')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow()
    await opened.close()
    const excel = await runCli(['backfill-excel', knee, '--json', '--database-url', target.url])
    expect(excel.exitCode, excel.stderr).toBe(0)
    expect(JSON.parse(excel.stdout).files).toMatchObject({imported: 0, rejected: 0})
    const json = await runCli(['import-json', STEMSET, '--json', '--database-url', target.url])
    expect(json.exitCode, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout).files).toMatchObject({imported: 0})
    const after = await target.open()
    try {
      expect(await snapshotData(after.db)).toEqual(before)
      const auditAfter = await after.db
        .selectFrom('audit_log')
        .select(sql<number>`count(*)::int`.as('n'))
        .executeTakeFirstOrThrow()
      expect(auditAfter.n).toBe(auditBefore.n)
    } finally {
      await after.close()
    }
  })

  it('verify after the restore finds what it found before, none of it new, and nothing else', async () => {
    const verified = await runCli(['verify', '--json', '--database-url', target.url])
    const errors = () =>
      JSON.stringify(
        JSON.parse(verified.stdout).findings.filter((f: {severity: string}) => f.severity === 'error'),
      )
    expect(verified.exitCode, verified.stderr + errors()).toBe(0)
    const after = JSON.parse(verified.stdout) as typeof sourceVerify
    const brief = (f: Record<string, unknown>) =>
      `${f.check} ${f.code} ${f.severity} ${f.table} ${f.id} ${f.path}`
    expect(after.findings.map(brief).sort()).toEqual(sourceVerify.findings.map(brief).sort())
    expect(after.findings.filter((f) => f.new)).toEqual([])
    expect(after.ok).toBe(sourceVerify.ok)
  })
})

describe('aedb backup into a folder that is not one', () => {
  it('refuses a missing folder and a file used as a folder at once (exit 2), before reading the database', async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'aedb-backup-folder-'))
    try {
      const file = path.join(work, 'afile')
      await cp(path.join(PROJECT_ROOT, 'package.json'), file)
      for (const target of [path.join(work, 'missing', 'b.aedb.gz'), path.join(file, 'b.aedb.gz')]) {
        const run = await runCli(['backup', target, '--json', '--database-url', 'memory:'])
        expect(run.exitCode, run.stderr).toBe(2)
        expect(JSON.parse(run.stdout).error.code).toBe('BACKUP_FOLDER_MISSING')
      }
    } finally {
      await rm(work, {recursive: true, force: true})
    }
  })
})
