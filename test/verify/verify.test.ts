import {
  appendFile,
  copyFile,
  mkdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import path from 'node:path'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startRun} from '../../src/db/runs.js'
import {SCHEMA, type TableName} from '../../src/db/schema.js'
import {AedbError} from '../../src/errors.js'
import {backfillExcel} from '../../src/importers/excel/backfill-excel.js'
import {importJson} from '../../src/importers/json/import-json.js'
import {checkFiles} from '../../src/verify/check-files.js'
import {hasHashAt, hashIsAt, readFilePage, readHashes, UnknownRootError} from '../../src/verify/file-page.js'
import type {CheckFinding} from '../../src/verify/finding.js'
import {recordFindings} from '../../src/verify/finding-history.js'
import type {VerifyResult} from '../../src/verify/verify.js'
import {testBackends} from '../support/backends.js'
import {columnOf, editWorkbook} from '../support/knee-trees.js'
import {brief, exitCodeOf, type ImportedSamples, importSamples, keyOf, runVerify} from './verify-samples.js'

const STEM_DIR = ['media', 'one', 'take_5_132df89d']

describe.each(testBackends())('verify on imported samples (%s)', (backend) => {
  let s: ImportedSamples
  let baseline: Set<string>
  const stemFile = (name = 'vocals.opus') => path.join(s.stemset, ...STEM_DIR, name)
  const beyondBaseline = (r: VerifyResult) => r.findings.filter((f) => !baseline.has(keyOf(f)))

  /** Breaks one thing, expects exactly `expected` beyond the clean findings, fixes it, expects it resolved. */
  async function scenario(
    expected: Array<{check: string; code: string; severity: string}>,
    exit: number,
    fix: () => Promise<void>,
    options: {
      verify?: Parameters<typeof runVerify>[1]
      verifyAfterFix?: Parameters<typeof runVerify>[1]
    } = {},
  ): Promise<{broken: VerifyResult; fixed: VerifyResult}> {
    const broken = await runVerify(s, options.verify)
    expect(beyondBaseline(broken).map(brief)).toEqual(expected)
    expect(beyondBaseline(broken).every((f) => f.new)).toBe(true)
    expect(broken.resolved).toEqual([])
    expect(exitCodeOf(broken)).toBe(exit)
    await fix()
    const fixed = await runVerify(s, options.verifyAfterFix ?? options.verify)
    expect(beyondBaseline(fixed)).toEqual([])
    expect(fixed.resolved.map(brief)).toEqual(expected)
    expect(exitCodeOf(fixed)).toBe(0)
    return {broken, fixed}
  }

  beforeAll(async () => {
    s = await importSamples(backend)
  })

  afterAll(async () => {
    await s?.close()
  })

  /** Every row of every table but verify's own and runs, all columns, as text: equal dumps, equal data. */
  async function dumpDomainTables(): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    for (const table of Object.keys(SCHEMA) as TableName[]) {
      if (table === 'runs' || table.startsWith('verify_')) continue
      const {rows} = await sql<{
        t: string
      }>`select t::text as t from ${sql.table(table)} t order by 1`.execute(s.opened.db)
      out[table] = rows.map((r) => r.t).join('\n')
    }
    return out
  }

  it('leaves every domain table byte-identical, audit_log included, and records only its own run', async () => {
    const before = await dumpDomainTables()
    const runsBefore = await sql<{n: number}>`select count(*)::int as n from runs`.execute(s.opened.db)
    const result = await runVerify(s, {rehash: true})
    expect(await dumpDomainTables()).toEqual(before)
    const runs = await sql<{command: string; outcome: string}>`
      select command, outcome from runs order by started_at desc`.execute(s.opened.db)
    expect(runs.rows.length).toBe(runsBefore.rows[0]!.n + 1)
    expect(runs.rows[0]).toEqual({command: 'verify', outcome: 'succeeded'})
    expect(result.checked.bytesHashed).toBeGreaterThan(0)
    // Forget this run's history so the clean-import test below sees every finding as new.
    await sql`delete from verify_findings`.execute(s.opened.db)
  })

  it('finds nothing wrong on a clean import: only what was already absent at import, as warnings', async () => {
    const result = await runVerify(s)
    const absent = await s.opened.db
      .selectFrom('files')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('present', '=', false)
      .executeTakeFirstOrThrow()
    expect(result.findings.filter((f) => f.severity === 'error')).toEqual([])
    expect(result.findings.filter((f) => f.code === 'FILE_ABSENT_AT_IMPORT')).toHaveLength(Number(absent.n))
    // The legacy .processed_hashes.json of h4n names one folder that never existed (see the stemset manifest).
    expect(result.findings.filter((f) => f.code !== 'FILE_ABSENT_AT_IMPORT').map(brief)).toEqual([
      {check: 'rows', code: 'PROCESSED_HASH_FOLDER_MISSING', severity: 'warning'},
    ])
    expect(result.findings.every((f) => f.new)).toBe(true)
    expect(result.complete).toBe(true)
    expect(exitCodeOf(result)).toBe(0)
    expect(result.checked.rows).toBeGreaterThan(0)
    // A clean archive leaves nothing to remember: verify_files holds only files that differ from their import.
    const remembered = await sql<{n: number}>`select count(*)::int as n from verify_files`.execute(
      s.opened.db,
    )
    expect(remembered.rows[0]!.n).toBe(0)
    baseline = new Set(result.findings.map(keyOf))

    const again = await runVerify(s)
    expect(again.findings.map(keyOf).sort()).toEqual([...baseline].sort())
    expect(again.findings.some((f) => f.new)).toBe(false)
    expect(again.resolved).toEqual([])
  })

  it('a deleted referenced file: FILE_MISSING', async () => {
    const bytes = await readFile(stemFile())
    await unlink(stemFile())
    const {broken} = await scenario([{check: 'files', code: 'FILE_MISSING', severity: 'error'}], 3, () =>
      writeFile(stemFile(), bytes),
    )
    expect(beyondBaseline(broken)[0]!.path).toBe(stemFile())
  })

  it('reads the files page by page: pages of two files find what one page finds, each file once', async () => {
    const bytes = await readFile(stemFile())
    await unlink(stemFile())
    try {
      const db = s.opened.db
      const runId = await startRun({db, command: 'verify', argv: [], version: 'test'})
      const props = {
        db,
        runId,
        include: {files: true, sources: true},
        rehash: false,
        rootMap: [],
        jobs: 2,
        deadline: null,
        after: null,
      }
      const whole = await checkFiles(props)
      const paged = await checkFiles({...props, pageRows: 2})
      const files = await sql<{n: number}>`select count(*)::int as n from files`.execute(db)
      expect(whole.total).toBe(files.rows[0]!.n)
      expect(paged.checked).toBe(whole.total)
      expect(paged.lastId).toBe(whole.lastId)
      const found = (r: typeof whole) =>
        r.findings.map((f) => `${f.check} ${f.code} ${f.id} ${f.path}`).sort()
      expect(found(paged)).toEqual(found(whole))
      expect(paged.findings.filter((f) => f.code === 'FILE_MISSING').map((f) => f.path)).toEqual([stemFile()])
      // A run reaches the end only by reading it, never because it checked as many files as were counted.
      expect([whole.reachedEnd, paged.reachedEnd]).toEqual([true, true])
      const stopped = await checkFiles({...props, pageRows: 2, deadline: Date.now()})
      expect(stopped.checked).toBeLessThan(whole.total)
      expect(stopped.reachedEnd).toBe(false)
    } finally {
      await writeFile(stemFile(), bytes)
    }
  })

  it('a page names each file by its root; a root the pass has not read stops the page read', async () => {
    const db = s.opened.db
    const roots = await db.selectFrom('import_roots').select(['id', 'path']).orderBy('id').execute()
    const read = (known: typeof roots) =>
      readFilePage({
        db,
        roots: {ids: known.map((r) => r.id), roots: known.map((r) => ({root: r.path, mappedRoot: r.path}))},
        after: null,
        scope: sql`true`,
        sources: true,
        hashes: false,
        limit: 100_000,
      })
    const page = await read(roots)
    const files = await db
      .selectFrom('files')
      .select(['id', 'root_id', 'rel_path', 'sha256'])
      .orderBy('id')
      .execute()
    expect(page.length).toBe(files.length)
    expect(page.hashes).toBeNull()
    files.forEach((f, i) => {
      expect(page.roots[page.rootOf[i]!]!.root).toBe(roots.find((r) => r.id === f.root_id)!.path)
      expect(page.relPaths[i]).toBe(f.rel_path)
      expect(hasHashAt(page, i)).toBe(f.sha256 !== null)
    })
    // The hashes of the files that need a look are read on demand, and compare like the page's own would.
    const hashed = files.flatMap((f, i) => (f.sha256 === null ? [] : [i]))
    await readHashes(db, page, hashed)
    for (const i of hashed) expect(hashIsAt(page, i, files[i]!.sha256!)).toBe(true)
    const used = new Set(files.map((f) => f.root_id))
    await expect(read(roots.filter((r) => r.id !== [...used][0]))).rejects.toBeInstanceOf(UnknownRootError)
  })

  it('a referenced file replaced by a folder: FILE_MISSING saying what is at its path now', async () => {
    const bytes = await readFile(stemFile())
    await unlink(stemFile())
    await mkdir(stemFile())
    const {broken} = await scenario(
      [{check: 'files', code: 'FILE_MISSING', severity: 'error'}],
      3,
      async () => {
        await rm(stemFile(), {recursive: true})
        await writeFile(stemFile(), bytes)
      },
    )
    expect(beyondBaseline(broken)[0]!.path).toBe(stemFile())
    expect(beyondBaseline(broken)[0]!.message).toContain('not a regular file')
  })

  it('a file found unreadable before is read again by a plain run, which resolves FILE_UNREADABLE once it reads', async () => {
    // Unreadable for real needs a user without root's rights; the finding is recorded as a --rehash run would.
    const file = await s.opened.db
      .selectFrom('files')
      .select(['id', 'size_bytes'])
      .where('rel_path', 'like', '%take_5_132df89d/drums.opus')
      .executeTakeFirstOrThrow()
    const unreadable: CheckFinding = {
      check: 'files',
      code: 'FILE_UNREADABLE',
      severity: 'error',
      table: 'files',
      id: file.id,
      path: stemFile('drums.opus'),
      message: 'cannot be read (EACCES)',
    }
    const runId = await startRun({db: s.opened.db, command: 'verify', argv: [], version: 'test'})
    const all = new Set(['files'] as const)
    await recordFindings({
      db: s.opened.db,
      runId,
      findings: [unreadable],
      checks: all,
      fullChecks: all,
      checkedFiles: null,
    })
    // Its size and mtime are unchanged, so only the open finding makes the plain run read it (and only it).
    const plain = await runVerify(s)
    expect(plain.checked.bytesHashed).toBe(Number(file.size_bytes))
    expect(beyondBaseline(plain)).toEqual([])
    expect(plain.resolved.map(brief)).toEqual([{check: 'files', code: 'FILE_UNREADABLE', severity: 'error'}])
    expect((await runVerify(s)).checked.bytesHashed).toBe(0)
  })

  it('a file with changed bytes and size: FILE_CHANGED with old and new size', async () => {
    const bytes = await readFile(stemFile())
    await appendFile(stemFile(), 'tail')
    const {broken} = await scenario([{check: 'files', code: 'FILE_CHANGED', severity: 'error'}], 3, () =>
      writeFile(stemFile(), bytes),
    )
    expect(beyondBaseline(broken)[0]!.message).toContain(`was ${bytes.length} bytes`)
    expect(beyondBaseline(broken)[0]!.message).toContain(`now ${bytes.length + 4} bytes`)
  })

  it('changed bytes with the same size and mtime: found only with --rehash, and then every night until fixed', async () => {
    const file = stemFile('drums.opus')
    const bytes = await readFile(file)
    // A whole second, so setting it back is exact (a Date loses the copy's sub-millisecond part).
    const mtime = 1_700_000_000
    await utimes(file, mtime, mtime)
    const touched = await runVerify(s)
    expect(beyondBaseline(touched)).toEqual([])
    expect(touched.checked.bytesHashed).toBe(bytes.length)
    // Touched but unchanged: remembered with its new mtime, so the next night hashes nothing.
    expect((await runVerify(s)).checked.bytesHashed).toBe(0)
    const changed = Buffer.from(bytes)
    changed[changed.length - 1] = (changed[changed.length - 1]! + 1) % 256
    await writeFile(file, changed)
    await utimes(file, mtime, mtime)
    const plain = await runVerify(s)
    expect(beyondBaseline(plain)).toEqual([])
    await scenario(
      [{check: 'files', code: 'FILE_CHANGED', severity: 'error'}],
      3,
      async () => {
        const still = await runVerify(s)
        expect(beyondBaseline(still).map(brief)).toEqual([
          {check: 'files', code: 'FILE_CHANGED', severity: 'error'},
        ])
        await writeFile(file, bytes)
        await utimes(file, mtime, mtime)
      },
      {verify: {rehash: true}},
    )
  })

  it('a moved file: FILE_MOVED naming where it is now', async () => {
    const moved = path.join(s.stemset, 'elsewhere', 'vocals-copy.opus')
    await mkdir(path.dirname(moved), {recursive: true})
    await rename(stemFile(), moved)
    const {broken} = await scenario([{check: 'files', code: 'FILE_MOVED', severity: 'error'}], 3, () =>
      rename(moved, stemFile()),
    )
    expect(beyondBaseline(broken)[0]!.message).toContain(moved)
  })

  it('a deleted file whose identical copy is imported at its own path: FILE_MISSING, not moved there', async () => {
    const {rows} = await sql<{root: string; rel_path: string}>`
      select r.path as root, f.rel_path from files f join import_roots r on r.id = f.root_id
      where f.present and f.sha256 in (
        select sha256 from files where present and sha256 is not null group by root_id, sha256 having count(*) > 1)
      order by f.rel_path limit 1`.execute(s.opened.db)
    expect(rows.length).toBe(1)
    const file = path.join(rows[0]!.root, rows[0]!.rel_path)
    const bytes = await readFile(file)
    const {mtime} = await stat(file)
    await unlink(file)
    const {broken} = await scenario(
      [{check: 'files', code: 'FILE_MISSING', severity: 'error'}],
      3,
      async () => {
        await writeFile(file, bytes)
        await utimes(file, mtime, mtime)
      },
    )
    expect(beyondBaseline(broken)[0]!.path).toBe(file)
  })

  it('a re-rooted tree checked with --root-map: nothing new; without it, every present file is missing', async () => {
    const newRoot = path.join(s.root, 'other-disk')
    await rename(s.stemset, newRoot)
    try {
      const mapped = await runVerify(s, {rootMap: [{from: s.stemset, to: newRoot}]})
      expect(beyondBaseline(mapped)).toEqual([])
      expect(mapped.resolved).toEqual([])
      expect(exitCodeOf(mapped)).toBe(0)
      const unmapped = await runVerify(s, {checks: ['files']})
      expect(new Set(beyondBaseline(unmapped).map((f) => f.code))).toEqual(new Set(['FILE_MISSING']))
      expect(exitCodeOf(unmapped)).toBe(3)
    } finally {
      await rename(newRoot, s.stemset)
    }
    const back = await runVerify(s)
    expect(beyondBaseline(back)).toEqual([])
    expect(new Set(back.resolved.map((f) => f.code))).toEqual(new Set(['FILE_MISSING']))
  })

  it('a --root-map that maps no import root (a folder inside one) is a usage error naming the root to map', async () => {
    const inside = path.join(s.stemset, 'media')
    const error = await runVerify(s, {rootMap: [{from: inside, to: '/elsewhere/media'}]}).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(AedbError)
    expect((error as AedbError).exit).toBe(2)
    expect((error as AedbError).message).toContain(
      `--root-map ${inside}=/elsewhere/media maps no import root`,
    )
    expect((error as AedbError).suggestions.join(' ')).toContain(`inside the import root ${s.stemset}`)
    // A folder above a root maps it (and every root under it).
    const above = await runVerify(s, {
      rootMap: [{from: path.dirname(s.stemset), to: path.dirname(s.stemset)}],
    })
    expect(beyondBaseline(above)).toEqual([])
  })

  it('an edited workbook: SOURCE_CHANGED (a warning naming the command that re-imports it)', async () => {
    const log = path.join(s.knee, '#1021', 'Left Knee', 'Walking', 'processing_log_1021_Left_walk.xlsx')
    const original = `${log}.orig`
    await copyFile(log, original)
    await editWorkbook(original, log, (wb) => {
      const sheet = wb.worksheets[0]!
      sheet.getCell(2, sheet.columnCount + 1).value = 'edited by hand'
    })
    const {broken} = await scenario(
      [{check: 'sources', code: 'SOURCE_CHANGED', severity: 'warning'}],
      0,
      () => rename(original, log),
    )
    expect(beyondBaseline(broken)[0]!.message).toContain('aedb backfill-excel')
    // A log superseded by a newer edition cannot be re-imported: the message says what then.
    expect(beyondBaseline(broken)[0]!.message).toMatch(/refused as STALE_LOG and there is nothing to do/)
  })

  it('an edited metadata.json: SOURCE_CHANGED (a warning naming the import-json that re-reads it), not FILE_CHANGED', async () => {
    const metadata = path.join(s.stemset, ...STEM_DIR, 'metadata.json')
    const original = `${metadata}.orig`
    await copyFile(metadata, original)
    await appendFile(metadata, ' ')
    const {broken} = await scenario(
      [{check: 'sources', code: 'SOURCE_CHANGED', severity: 'warning'}],
      0,
      () => rename(original, metadata),
    )
    expect(beyondBaseline(broken)[0]!.path).toBe(metadata)
    expect(beyondBaseline(broken)[0]!.message).toContain('aedb import-json')
  })

  it('a processing log row edited by hand in SQL: ROW_EDITED with table, id, natural key and provenance', async () => {
    const row = await s.opened.db
      .selectFrom('processing_logs')
      .select(['id', 'maneuver_directory'])
      .orderBy('id')
      .limit(1)
      .executeTakeFirstOrThrow()
    await sql`update processing_logs set maneuver_directory = 'edited by hand' where id = ${row.id}`.execute(
      s.opened.db,
    )
    const {broken} = await scenario([{check: 'rows', code: 'ROW_EDITED', severity: 'error'}], 3, async () => {
      await sql`update processing_logs set maneuver_directory = ${row.maneuver_directory} where id = ${row.id}`.execute(
        s.opened.db,
      )
    })
    const finding = beyondBaseline(broken)[0]!
    expect(finding).toMatchObject({table: 'processing_logs', id: row.id})
    expect(finding.message).toMatch(/knee="(left|right)", maneuver="(walk|sts|fe)"/)
    // The source by its whole path (its import root first): the same relative path is in every sample tree.
    expect(finding.message).toMatch(/imported from \/\S.*\/#\d+\/.*processing_log_\d+_\w+\.xlsx > Summary/)
  })

  it('a stem row deleted in SQL: STEM_ROW_MISSING (stems on disk against stems recorded)', async () => {
    const stem = await sql<Record<string, unknown>>`
      select s.* from stems s join files f on f.id = s.file_id where f.rel_path like ${'%take_5_132df89d/bass.opus'}`.execute(
      s.opened.db,
    )
    const row = stem.rows[0]!
    await sql`delete from stems where id = ${row.id as string}`.execute(s.opened.db)
    const {broken} = await scenario(
      [{check: 'cross', code: 'STEM_ROW_MISSING', severity: 'error'}],
      3,
      async () => {
        await s.opened.db
          .insertInto('stems')
          .values({...row, extra: JSON.stringify(row.extra)} as never)
          .execute()
      },
    )
    expect(beyondBaseline(broken)[0]!.path).toBe(stemFile('bass.opus'))
  })

  it('an audio file in a recording folder that was never imported: STEM_NOT_IMPORTED (a warning)', async () => {
    const extra = stemFile('extra-take.opus')
    await copyFile(stemFile('bass.opus'), extra)
    const {broken} = await scenario(
      [{check: 'cross', code: 'STEM_NOT_IMPORTED', severity: 'warning'}],
      0,
      () => unlink(extra),
    )
    expect(beyondBaseline(broken)[0]).toMatchObject({path: extra, table: 'recordings'})
    expect(beyondBaseline(broken)[0]!.message).toContain('aedb import-json')
  })

  it('a knee log disagreeing with its maneuvers: KNEE_LOG_MISMATCH', async () => {
    const log = path.join(s.knee, '#1019', 'Left Knee', 'knee_processing_log_1019_Left.xlsx')
    const original = `${log}.orig`
    await copyFile(log, original)
    await editWorkbook(original, log, (wb) => {
      const sheet = wb.getWorksheet('Maneuver Summaries')!
      const column = columnOf(sheet, 'Num Synced Files')
      const cell = sheet.getCell(2, column)
      cell.value = Number(cell.value) + 5
    })
    const reimport = () => backfillExcel({db: s.opened.db, paths: [log], version: 'test'})
    expect((await reimport()).rejected).toEqual([])
    const {broken} = await scenario(
      [{check: 'cross', code: 'KNEE_LOG_MISMATCH', severity: 'error'}],
      3,
      async () => {
        // Re-saved with the original values: bytes this parser has not imported yet, so they are read again.
        await editWorkbook(original, log, () => {})
        expect((await reimport()).rejected).toEqual([])
      },
    )
    expect(beyondBaseline(broken)[0]!.message).toContain('Num Synced Files')
  })

  it('a hand-made ALTER TABLE: SCHEMA_DRIFT naming the column', async () => {
    await sql`alter table processing_logs add column foo text`.execute(s.opened.db)
    const {broken} = await scenario(
      [{check: 'schema', code: 'SCHEMA_DRIFT', severity: 'error'}],
      3,
      async () => {
        await sql`alter table processing_logs drop column foo`.execute(s.opened.db)
      },
    )
    expect(beyondBaseline(broken)[0]!.message).toMatch(/^column processing_logs\.foo added/)
  })

  it('a dropped trigger: SCHEMA_DRIFT naming the trigger', async () => {
    await sql`drop trigger stems_audit on stems`.execute(s.opened.db)
    const {broken} = await scenario(
      [{check: 'schema', code: 'SCHEMA_DRIFT', severity: 'error'}],
      3,
      async () => {
        await sql`create trigger stems_audit after insert or update or delete on stems for each row execute function aedb_audit()`.execute(
          s.opened.db,
        )
      },
    )
    expect(beyondBaseline(broken)[0]!.message).toMatch(/^trigger stems_audit on stems missing/)
  })

  it('an edited migration file: MIGRATION_EDITED', async () => {
    // An edited file and a changed recorded checksum differ in the same way to the check; the repository's
    // migration files are shared by every test running in parallel, so the recorded side is changed here.
    const name = '20261122000000_initial_schema'
    const applied = await sql<{
      checksum: string
    }>`select checksum from aedb_migrations where name = ${name}`.execute(s.opened.db)
    await sql`update aedb_migrations set checksum = ${'0'.repeat(64)} where name = ${name}`.execute(
      s.opened.db,
    )
    const {broken} = await scenario(
      [{check: 'schema', code: 'MIGRATION_EDITED', severity: 'error'}],
      3,
      async () => {
        await sql`update aedb_migrations set checksum = ${applied.rows[0]!.checksum} where name = ${name}`.execute(
          s.opened.db,
        )
      },
    )
    expect(beyondBaseline(broken)[0]).toMatchObject({path: `migrations/${name}.ts`, id: name})
  })

  it('--fail-on new pages only for new errors; --fail-on warning for anything', async () => {
    expect((await runVerify(s, {failOn: 'warning'})).ok).toBe(false)
    await sql`alter table stems add column bar int`.execute(s.opened.db)
    try {
      expect((await runVerify(s, {failOn: 'new'})).ok).toBe(false)
      expect((await runVerify(s, {failOn: 'new'})).ok).toBe(true)
      expect((await runVerify(s, {failOn: 'error'})).ok).toBe(false)
    } finally {
      await sql`alter table stems drop column bar`.execute(s.opened.db)
    }
    expect(beyondBaseline(await runVerify(s))).toEqual([])
  })

  it('--time-limit: two short runs together cover every file exactly once, the first says complete: false', async () => {
    const total = await sql<{n: number}>`select count(*)::int as n from files`.execute(s.opened.db)
    const first = await runVerify(s, {timeLimitMs: 1})
    expect(first.complete).toBe(false)
    expect(first.coverage.share).toBeLessThan(1)
    const second = await runVerify(s, {timeLimitMs: 600_000})
    expect(second.complete).toBe(true)
    expect(second.coverage).toEqual({files: total.rows[0]!.n, verified: total.rows[0]!.n, share: 1})
    // Files are checked in id order: the first run's counts say where it stopped, the second continued after it.
    const passes = await sql<{id: string; counts: {filesFrom: string | null; filesTo: string | null}}>`
      select id, counts from runs where id in (${first.runId}, ${second.runId})`.execute(s.opened.db)
    const pass = Object.fromEntries(passes.rows.map((r) => [r.id, r.counts]))
    const stoppedAt = pass[first.runId]!.filesTo
    expect(pass[first.runId]!.filesFrom).toBeNull()
    expect(stoppedAt).toMatch(/^[0-9a-f-]{36}$/)
    expect(pass[second.runId]).toMatchObject({filesFrom: stoppedAt, filesTo: null})
    const split = await sql<{upto: number; after: number}>`
      select count(*) filter (where id <= ${stoppedAt})::int as upto,
        count(*) filter (where id > ${stoppedAt})::int as after from files`.execute(s.opened.db)
    expect(first.checked.files).toBe(split.rows[0]!.upto)
    expect(second.checked.files).toBe(split.rows[0]!.after)
    expect(first.checked.files).toBeGreaterThan(0)
    expect(first.checked.files + second.checked.files).toBe(total.rows[0]!.n)
    expect(beyondBaseline(second)).toEqual([])
    // The pass is complete: the next limited run starts a new one over every file.
    const third = await runVerify(s, {timeLimitMs: 600_000})
    expect(third.checked.files).toBe(total.rows[0]!.n)
  })

  it('--time-limit: a finding on a file later runs did not re-check stays listed (new: false) and fails --fail-on error', async () => {
    // The first non-source file in id order: the first limited run of a pass always checks it, the next ones not.
    const first = await sql<{id: string; file: string}>`
      select f.id, r.path || '/' || f.rel_path as file from files f join import_roots r on r.id = f.root_id
      where f.present and not exists (select 1 from source_imports si where si.file_id = f.id)
      order by f.id limit 1`.execute(s.opened.db)
    const {id, file} = first.rows[0]!
    const bytes = await readFile(file)
    await unlink(file)
    const limited = (failOn: 'error' | 'new', timeLimitMs = 1) =>
      runVerify(s, {checks: ['files'], timeLimitMs, failOn})
    const missing = (r: VerifyResult) => beyondBaseline(r).filter((f) => f.id === id)
    try {
      const found = await limited('error')
      expect(found.complete).toBe(false)
      // FILE_MOVED when the tree holds a copy of its bytes (the ids, and so which file is first, vary per run).
      const code = missing(found)[0]?.code
      expect(['FILE_MISSING', 'FILE_MOVED']).toContain(code)
      expect(missing(found)).toEqual([
        expect.objectContaining({code, severity: 'error', new: true, checkedThisRun: true, path: file}),
      ])
      expect(exitCodeOf(found)).toBe(3)
      const lastSeen = missing(found)[0]!.lastSeen
      for (const failOn of ['error', 'new', 'error'] as const) {
        const later = await limited(failOn)
        expect(later.complete).toBe(false)
        expect(later.findings.filter((f) => f.checkedThisRun).map((f) => f.id)).not.toContain(id)
        expect(missing(later)).toEqual([{...missing(found)[0]!, new: false, checkedThisRun: false, lastSeen}])
        expect(later.resolved).toEqual([])
        expect(exitCodeOf(later)).toBe(failOn === 'error' ? 3 : 0)
      }
      // The run that completes the pass does not reach the file either: still open, still failing.
      const rest = await limited('error', 600_000)
      expect(rest.complete).toBe(true)
      expect(missing(rest).map((f) => [f.code, f.new, f.checkedThisRun])).toEqual([[code, false, false]])
      expect(exitCodeOf(rest)).toBe(3)
      const open = await sql<{n: number}>`
        select count(*)::int as n from verify_findings where row_id = ${id} and resolved_at is null`.execute(
        s.opened.db,
      )
      expect(open.rows[0]!.n).toBe(1)
    } finally {
      await writeFile(file, bytes)
    }
    // The next pass re-checks it first and finds it fixed: resolved, and no longer listed.
    const fixed = await limited('error')
    expect(missing(fixed)).toEqual([])
    expect(fixed.resolved.map((f) => [f.id, f.checkedThisRun])).toEqual([[id, true]])
    expect(['FILE_MISSING', 'FILE_MOVED']).toContain(fixed.resolved[0]!.code)
    expect(exitCodeOf(fixed)).toBe(0)
    const after = await limited('error')
    expect(after.resolved).toEqual([])
    expect(beyondBaseline(await runVerify(s))).toEqual([])
  })

  it('a synchronization edited in SQL: ROW_EDITED names backfill-excel --force, which restores the row', async () => {
    const before = await sql<{id: string; duration_s: number | null}>`
      select id, duration_s from synchronizations where sync_file = 'Left_walk_Pass0002_slow'`.execute(
      s.opened.db,
    )
    const row = before.rows[0]!
    await sql`update synchronizations set duration_s = 99.5 where id = ${row.id}`.execute(s.opened.db)
    const broken = await runVerify(s)
    const finding = beyondBaseline(broken).find((f) => f.code === 'ROW_EDITED' && f.id === row.id)!
    expect(beyondBaseline(broken).map(brief)).toEqual([
      {check: 'rows', code: 'ROW_EDITED', severity: 'error'},
    ])
    // The command the message names, with the workbook's whole path quoted for a shell.
    const named = /aedb backfill-excel --force '([^']+\.xlsx)'/.exec(finding.message)
    expect(named).not.toBeNull()
    const log = named![1]!
    // Without --force the workbook's bytes are those imported: it is skipped and the edit stays.
    const plain = await backfillExcel({db: s.opened.db, paths: [log], version: 'test'})
    expect(plain.files).toMatchObject({imported: 0, unchanged: 1})
    const forced = await backfillExcel({db: s.opened.db, paths: [log], version: 'test', force: true})
    expect(forced.rejected).toEqual([])
    expect(forced.files).toMatchObject({imported: 1, unchanged: 0})
    expect(forced.tables.synchronizations).toMatchObject({inserted: 0, updated: 1, deleted: 0})
    const after = await sql<{duration_s: number | null}>`
      select duration_s from synchronizations where id = ${row.id}`.execute(s.opened.db)
    expect(after.rows[0]!.duration_s).toBe(row.duration_s)
    const fixed = await runVerify(s)
    expect(beyondBaseline(fixed)).toEqual([])
    expect(fixed.resolved.map(brief)).toEqual([{check: 'rows', code: 'ROW_EDITED', severity: 'error'}])
    // Forced again over rows that match: nothing changes.
    const again = await backfillExcel({db: s.opened.db, paths: [log], version: 'test', force: true})
    expect(again.files).toMatchObject({imported: 0, unchanged: 1})
    expect(again.tables.synchronizations).toMatchObject({inserted: 0, updated: 0, deleted: 0})
  })

  it('a stem missing at import that appears: FILE_APPEARED naming import-json, resolved by the import it names', async () => {
    const stem = stemFile('drums.opus')
    const bytes = await readFile(stem)
    await unlink(stem)
    try {
      await importJson({db: s.opened.db, paths: [s.stemset], jobs: 2})
      await writeFile(stem, bytes)
      const broken = await runVerify(s)
      expect(beyondBaseline(broken).map(brief)).toEqual([
        {check: 'files', code: 'FILE_APPEARED', severity: 'warning'},
      ])
      const found = beyondBaseline(broken)[0]!
      expect(found.path).toBe(stem)
      expect(found.message).toContain(`Re-import the tree with aedb import-json ${s.stemset} to pick it up.`)
      await importJson({db: s.opened.db, paths: [s.stemset], jobs: 2})
      const fixed = await runVerify(s)
      expect(beyondBaseline(fixed)).toEqual([])
      expect(fixed.resolved.map(brief)).toEqual([
        {check: 'files', code: 'FILE_APPEARED', severity: 'warning'},
      ])
    } finally {
      await writeFile(stem, bytes)
    }
  })

  it('a referenced file that appears after import: FILE_APPEARED, resolved by the --force re-import it names', async () => {
    const rel = ['#1019', 'Left Knee', 'Sit-Stand', 'Synced', 'Left_sit_to_stand.pkl']
    const appeared = path.join(s.knee, ...rel)
    await mkdir(path.dirname(appeared), {recursive: true})
    await writeFile(appeared, 'pickle bytes')
    try {
      const broken = await runVerify(s)
      const found = broken.findings.filter((f) => f.code === 'FILE_APPEARED')
      expect(found.map((f) => f.path)).toEqual([appeared])
      const named = /aedb backfill-excel --force (\S+) to pick it up\.$/.exec(found[0]!.message)
      expect(named?.[1]).toBe(s.knee)
      // A plain re-run reads nothing (every workbook's bytes were imported), so the file stays unrecorded.
      const plain = await backfillExcel({db: s.opened.db, paths: [s.knee], version: 'test'})
      expect(plain.files.imported).toBe(0)
      expect(plain.tables.files ?? {inserted: 0, updated: 0}).toMatchObject({inserted: 0, updated: 0})
      const forced = await backfillExcel({db: s.opened.db, paths: [named![1]!], version: 'test', force: true})
      expect(forced.rejected).toEqual([])
      // Only the file row changed: the study's own rows all match their workbooks.
      expect(forced.files.imported).toBe(0)
      const recorded = await sql<{present: boolean; sha256: string | null}>`
        select present, sha256 from files where rel_path = ${rel.join('/')}`.execute(s.opened.db)
      expect(recorded.rows).toEqual([{present: true, sha256: expect.stringMatching(/^[0-9a-f]{64}$/)}])
      const fixed = await runVerify(s)
      expect(fixed.findings.filter((f) => f.code === 'FILE_APPEARED')).toEqual([])
      expect(fixed.resolved.filter((f) => f.code === 'FILE_APPEARED').map((f) => f.path)).toEqual([appeared])
    } finally {
      // Back as it was: the file gone and recorded missing.
      await unlink(appeared)
      await backfillExcel({db: s.opened.db, paths: [s.knee], version: 'test', force: true})
      await runVerify(s)
    }
  })

  it('a workbook put back to bytes imported before: a plain re-import reads it again; an unchanged tree reads nothing', async () => {
    const log = path.join(s.knee, '#1021', 'Right Knee', 'Walking', 'processing_log_1021_Right_walk.xlsx')
    const original = `${log}.orig`
    await copyFile(log, original)
    const cycles = async () =>
      (
        await sql<{n: number | null}>`select num_movement_cycles as n from processing_logs pl
          join files f on f.id = pl.source_file_id where f.rel_path = ${path.relative(s.knee, log)}`.execute(
          s.opened.db,
        )
      ).rows[0]?.n
    const stored = await cycles()
    await editWorkbook(original, log, (wb) => {
      const sheet = wb.getWorksheet('Summary')!
      const cell = sheet.getCell(2, columnOf(sheet, 'Num Movement Cycles'))
      cell.value = Number(cell.value) + 1
    })
    expect((await backfillExcel({db: s.opened.db, paths: [log], version: 'test'})).files.imported).toBe(1)
    expect(await cycles()).toBe(Number(stored) + 1)
    await rename(original, log)
    const reverted = await backfillExcel({db: s.opened.db, paths: [log], version: 'test'})
    expect(reverted.rejected).toEqual([])
    expect(reverted.files).toMatchObject({imported: 1, unchanged: 0})
    expect(await cycles()).toBe(stored)
    // The tree now matches the database: a plain re-run reads no workbook.
    let read = 0
    const rerun = await backfillExcel({
      db: s.opened.db,
      paths: [s.knee],
      version: 'test',
      onProgress: (p) => {
        if (p.phase === 'write') read = Math.max(read, p.total)
      },
    })
    expect(rerun.files.imported).toBe(0)
    expect(rerun.files.unchanged).toBe(rerun.files.seen)
    expect(read).toBe(0)
    await runVerify(s)
  })

  it('a workbook put back after a newer edition of it was imported: refused as STALE_LOG, with or without --force', async () => {
    const log = path.join(s.knee, '#2037', 'Right Knee', 'Walking', 'processing_log_2037_Right_walk.xlsx')
    const original = `${log}.orig`
    await copyFile(log, original)
    await editWorkbook(original, log, (wb) => {
      const sheet = wb.getWorksheet('Summary')!
      const cycles = sheet.getCell(2, columnOf(sheet, 'Num Movement Cycles'))
      cycles.value = Number(cycles.value) + 1
      const updated = sheet.getCell(2, columnOf(sheet, 'Log Updated'))
      expect(updated.value).toBeInstanceOf(Date)
      updated.value = new Date((updated.value as Date).getTime() + 86_400_000)
    })
    expect((await backfillExcel({db: s.opened.db, paths: [log], version: 'test'})).files.imported).toBe(1)
    await rename(original, log)
    for (const force of [false, true]) {
      const again = await backfillExcel({db: s.opened.db, paths: [log], version: 'test', force})
      expect(again.files).toMatchObject({imported: 0, rejected: 1})
      expect(again.rejected.map((r) => r.code)).toEqual(['STALE_LOG'])
    }
  })
})
