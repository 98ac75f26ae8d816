import {readFileSync} from 'node:fs'
import {cp, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {parse} from 'csv-parse/sync'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../src/db/connection.js'
import type {DatabaseStatus} from '../../src/db/database-status.js'
import {listRuns} from '../../src/db/list-runs.js'
import type {ShowRunResult} from '../../src/db/show-run.js'
import {showRun} from '../../src/db/show-run.js'
import {backfillExcel} from '../../src/importers/excel/backfill-excel.js'
import type {ImportResult} from '../../src/importers/import-session.js'
import {importJson} from '../../src/importers/json/import-json.js'
import {createResultWriter, type ResultFormat} from '../../src/sql/result-writer.js'
import {runSql} from '../../src/sql/run-sql.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {kneeSampleDir, type ManifestManeuverFile, readKneeManifest} from '../support/knee-samples.js'
import {V4, walkLogPath} from '../support/knee-trees.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

const KNEE = readKneeManifest(V4)
const STEMSET = JSON.parse(
  readFileSync(path.join(PROJECT_ROOT, 'fixtures', 'stemset', 'manifest.json'), 'utf8'),
) as {
  recordings: Array<{
    profile: string
    output_dir: string
    stems: Array<{stem_type: string; size: number; sha256: string; durations: {libsndfile: number | null}}>
  }>
}

// The legacy spellings as the views show them (docs/data-model.md lists every mapping).
const MANEUVER: Record<string, string> = {walk: 'walk', sit_to_stand: 'sts', flexion_extension: 'fe'}
const SPEED: Record<string, string> = {slow: 'slow', normal: 'medium', fast: 'fast'}

type Row = Record<string, unknown>

/** A JSON shape: every key with the type of its value, arrays by their first element, so a changed shape is a diff. */
function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shapeOf(value[0])]
  if (value === null) return 'null'
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Row).map(([k, v]) => [k, shapeOf(v)]))
  }
  return typeof value
}

interface ReadmeExample {
  query: string
  format: ResultFormat
  /** The output the README shows, when it shows one. */
  output: string | null
}

/** The `aedb sql "..."` examples of the README's "Exploring your data", each with the output block after it. */
function readmeExamples(): ReadmeExample[] {
  const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('## Exploring your data')
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1))
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({lang: m[1]!, body: m[2]!}))
  return blocks.flatMap((block, i) => {
    const command = /^aedb sql "([^"]+)"(.*)$/.exec(block.body.trim())
    if (block.lang !== 'sh' || !command) return []
    const flags = command[2]!
    const format: ResultFormat = flags.includes('--csv') ? 'csv' : flags.includes('--json') ? 'json' : 'table'
    const next = blocks[i + 1]
    return [{query: command[1]!, format, output: next?.lang === 'text' ? next.body : null}]
  })
}

/** Runs SQL in this process through the same core and writer as `aedb sql` and returns what it would print. */
async function query(
  open: OpenDatabase,
  text: string,
  format: ResultFormat = 'json',
  write = false,
): Promise<string> {
  let out = ''
  const writer = createResultWriter(format, async (chunk) => {
    out += chunk
  })
  await runSql({
    db: open.db,
    withSession: open.withSession,
    sql: text,
    write,
    sink: writer,
    argv: ['sql'],
    version: 'test',
  })
  await writer.finish()
  return out
}

// Every process start costs seconds on a busy machine: the imports and most checks run in this process, and the CLI
// is run for what only it can show (exit codes, flags, the printed documents).
describe.each(testBackends())('exploring imported data on %s', (backend) => {
  let database: TestDatabase
  let knee: string
  let media: string
  let kneeImport: ImportResult
  let mediaImport: ImportResult
  let badImport: ImportResult

  const cli = (args: string[]) => runCli([...args, '--database-url', database.url])
  async function inProcess<T>(fn: (open: OpenDatabase) => Promise<T>): Promise<T> {
    const open = await database.open()
    try {
      return await fn(open)
    } finally {
      await open.close()
    }
  }

  beforeAll(async () => {
    database = await createTestDatabase(backend)
    const temp = await mkdtemp(path.join(tmpdir(), 'aedb-explore-'))
    knee = path.join(temp, 'knee')
    media = path.join(temp, 'stemset')
    const bad = path.join(temp, 'bad')
    await cp(kneeSampleDir(V4), knee, {recursive: true})
    await cp(path.join(PROJECT_ROOT, 'fixtures', 'stemset'), media, {recursive: true})
    // One broken workbook of its own, so a run has a rejection to store.
    const broken = walkLogPath(bad, '3001')
    await mkdir(path.dirname(broken), {recursive: true})
    await writeFile(broken, (await readFile(walkLogPath(knee, '1019'))).subarray(0, 4000))
    await inProcess(async ({db}) => {
      kneeImport = await backfillExcel({db, paths: [knee], version: 'test', jobs: 2})
      mediaImport = await importJson({db, paths: [media], version: 'test', jobs: 2})
      badImport = await backfillExcel({db, paths: [bad], version: 'test'})
    })
  })

  afterAll(async () => {
    await database?.drop()
    if (knee) await rm(path.dirname(knee), {recursive: true, force: true})
  })

  it('"which syncs failed?" is one query on syncs, with the manifest values', async () => {
    const result = await cli([
      'sql',
      `select sync_file, speed, pass, clean_cycles, outlier_cycles, log_file from syncs
       where participant = 2037 and knee = 'right' and maneuver = 'walk' and status = 'error'`,
      '--json',
    ])
    expect(result.exitCode, result.stderr).toBe(0)
    const rows = JSON.parse(result.stdout) as Row[]
    const log = KNEE.files.find(
      (f): f is ManifestManeuverFile =>
        f.kind === 'maneuver' && f.study_id === '2037' && f.knee === 'Right' && f.maneuver === 'walk',
    )!
    expect(rows).toEqual(
      log.syncs
        .filter((s) => s.status === 'error')
        .map((s) => ({
          sync_file: s.sync_file,
          speed: SPEED[s.speed!],
          pass: s.pass_number,
          clean_cycles: s.clean_cycles,
          outlier_cycles: s.outlier_cycles,
          log_file: path.join(knee, log.path),
        })),
    )
    expect(rows).toHaveLength(1)
  })

  it('"how long is each stem?" is one query on stem_files; --csv parses back to the manifest', async () => {
    const result = await cli([
      'sql',
      'select profile, folder, stem_type, duration_s, size_bytes, sha256, path from stem_files',
      '--csv',
    ])
    expect(result.exitCode, result.stderr).toBe(0)
    const rows = parse(result.stdout, {columns: true}) as Array<Record<string, string>>
    const expected = STEMSET.recordings.flatMap((r) =>
      r.stems.map((s) => ({r, s, folder: path.basename(r.output_dir).normalize('NFC')})),
    )
    expect(rows).toHaveLength(expected.length)
    for (const {r, s, folder} of expected) {
      const row = rows.find(
        (x) => x.profile === r.profile && x.folder === folder && x.stem_type === s.stem_type,
      )
      expect(row, `${r.output_dir}/${s.stem_type}`).toBeDefined()
      expect(Number(row!.duration_s)).toBeCloseTo(s.durations.libsndfile!, 1)
      expect(Number(row!.size_bytes)).toBe(s.size)
      expect(row!.sha256).toBe(s.sha256)
      expect(row!.path!.normalize('NFC').startsWith(path.join(media, r.output_dir).normalize('NFC'))).toBe(
        true,
      )
    }
  })

  it('refuses a write without --write, with exit 2 and the fix, and changes nothing', async () => {
    const before = await inProcess((open) => query(open, 'select (select count(*) from stems) as stems'))
    const result = await cli(['sql', 'delete from stems', '--json'])
    expect(result.exitCode).toBe(2)
    const error = JSON.parse(result.stdout) as {error: {code: string; suggestions: string[]}}
    expect(error.error.code).toBe('SQL_READ_ONLY')
    expect(error.error.suggestions.join(' ')).toContain('--write')
    expect(before).toBe('[\n  {"stems":36}\n]\n')
    await inProcess(async (open) => {
      expect(await query(open, 'select (select count(*) from stems) as stems')).toBe(before)
      await expect(query(open, 'commit; delete from stems')).rejects.toMatchObject({
        code: 'SQL_TRANSACTION_CONTROL',
      })
      await expect(
        query(open, 'with d as (delete from stems returning 1) select count(*) from d'),
      ).rejects.toMatchObject({code: 'SQL_READ_ONLY'})
      expect(await query(open, 'select (select count(*) from stems) as stems')).toBe(before)
    })
  })

  it('status --json shows the tables, files and last runs the imports recorded', async () => {
    const result = await cli(['status', '--json'])
    expect(result.exitCode, result.stderr).toBe(0)
    const status = JSON.parse(result.stdout) as DatabaseStatus
    expect(Object.keys(status)).toEqual([
      'backend',
      'location',
      'schemaVersion',
      'pending',
      'tables',
      'estimated',
      'files',
      'lastRuns',
    ])
    expect(status.backend).toBe(backend)
    expect(status.pending).toEqual([])
    expect(status.schemaVersion).toBe('20261202030000_views_for_people')
    expect(status.tables).toMatchObject({
      stems: 36,
      recordings: 10,
      synchronizations: 38,
      movement_cycles: 190,
    })
    const files = await inProcess((open) =>
      query(
        open,
        'select count(*) as count, coalesce(sum(size_bytes) filter (where present), 0) as bytes, count(*) filter (where not present) as missing from files',
      ),
    )
    expect(status.files).toEqual(JSON.parse(files)[0])
    const last = Object.fromEntries(status.lastRuns.map((r) => [r.command, r]))
    expect(last['import-json']).toMatchObject({runId: mediaImport.runId, outcome: 'succeeded'})
    expect(last['backfill-excel']).toMatchObject({
      runId: badImport.runId,
      outcome: 'problems',
      counts: {rejected: 1},
    })
    await expect(`${JSON.stringify(shapeOf(status), null, 2)}\n`).toMatchFileSnapshot(
      '../__snapshots__/json-shapes/status.json',
    )
  })

  it('runs show --json gives the rejections the run stored and what it changed', async () => {
    const result = await cli(['runs', 'show', badImport.runId.slice(0, 8), '--json'])
    expect(result.exitCode, result.stderr).toBe(0)
    const shown = JSON.parse(result.stdout) as ShowRunResult
    expect(shown).toMatchObject({runId: badImport.runId, command: 'backfill-excel', outcome: 'problems'})
    expect(shown.rejected).toEqual(badImport.rejected)
    expect(shown.rejected).toHaveLength(1)
    await expect(`${JSON.stringify(shapeOf(shown), null, 2)}\n`).toMatchFileSnapshot(
      '../__snapshots__/json-shapes/runs-show.json',
    )
  })

  it("the README's examples print what the README shows", async () => {
    const examples = readmeExamples()
    expect(examples.length).toBeGreaterThanOrEqual(3)
    await inProcess(async (open) => {
      for (const example of examples) {
        const printed = await query(open, example.query, example.format)
        if (example.output === null) expect(printed, example.query).toMatch(/\([1-9]\d* rows?\)\n$/)
        else expect(printed, example.query).toBe(example.output)
      }
    })
  })

  it('in process: every sync of the manifest, --json/--tsv alike, errors at their line, runs and changes', async () => {
    await inProcess(async (open) => {
      const rows = JSON.parse(
        await query(
          open,
          'select study, participant, knee, maneuver, sync_file, speed, pass, status, clean_cycles, outlier_cycles from syncs',
        ),
      ) as Row[]
      const expected = KNEE.files.flatMap((f) =>
        f.kind !== 'maneuver'
          ? []
          : f.syncs.map((s) => ({
              study: f.study,
              participant: Number(f.study_id),
              knee: f.knee.toLowerCase(),
              maneuver: MANEUVER[f.maneuver],
              sync_file: s.sync_file,
              speed: s.speed === null ? null : SPEED[s.speed],
              pass: s.pass_number,
              status: s.status,
              clean_cycles: s.clean_cycles,
              outlier_cycles: s.outlier_cycles,
            })),
      )
      const key = (r: Row) => `${r.participant}/${r.knee}/${r.maneuver}/${r.sync_file}`
      const byKey = (a: Row, b: Row) => key(a).localeCompare(key(b))
      expect([...rows].sort(byKey)).toEqual(expected.sort(byKey))

      const text =
        'select participant, sync_file, clean_cycles, 1.25::numeric as n from syncs order by 1, 2 limit 5'
      const json = JSON.parse(await query(open, text)) as Row[]
      const tsv = parse(await query(open, text, 'tsv'), {columns: true, delimiter: '\t', cast: true}) as Row[]
      expect(tsv).toEqual(json)
      expect(json[0]).toMatchObject({participant: 1019, n: 1.25})

      const mistake = await query(open, 'select 1;\nselect sync_file,\n  nope from syncs').catch(
        (e: Error) => e,
      )
      expect(mistake).toMatchObject({code: 'SQL_ERROR'})
      expect((mistake as Error).message).toContain(
        `column "nope" does not exist (SQLSTATE 42703)\nLINE 3:   nope from syncs\n${' '.repeat('LINE 3:   '.length)}^`,
      )

      expect(
        await query(
          open,
          "update recordings set display_name = 'Soundcheck' where folder_name = '251019-001'",
          'table',
          true,
        ),
      ).toBe('UPDATE 1\n')
      const sqlRuns = await listRuns({db: open.db, command: 'sql', last: 5})
      expect(sqlRuns).toHaveLength(1)
      expect(sqlRuns[0]).toMatchObject({outcome: 'succeeded', counts: {rows: {UPDATE: 1}, statements: 1}})
      expect((await showRun({db: open.db, id: sqlRuns[0]!.runId})).changes).toEqual({
        recordings: {inserted: 0, updated: 1, deleted: 0},
      })

      const imports = await listRuns({db: open.db, command: 'backfill-excel', last: 20})
      expect(imports.map((r) => r.runId)).toEqual([badImport.runId, kneeImport.runId])
      const knees = await showRun({db: open.db, id: kneeImport.runId})
      expect(knees.changes.synchronizations).toEqual({inserted: 38, updated: 0, deleted: 0})
      expect(knees.changes.movement_cycles?.inserted).toBe(190)
      const mediaRun = await showRun({db: open.db, id: mediaImport.runId})
      expect(mediaImport.warnings.length).toBeGreaterThan(0)
      expect(mediaRun.warnings).toEqual(
        mediaImport.warnings.map((w) => ({sheet: null, row: null, column: null, ...w})),
      )
      const runs = JSON.parse(JSON.stringify({runs: await listRuns({db: open.db, last: 20})}))
      await expect(`${JSON.stringify(shapeOf(runs), null, 2)}\n`).toMatchFileSnapshot(
        '../__snapshots__/json-shapes/runs.json',
      )
    })
  })
})
