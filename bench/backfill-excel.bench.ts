/**
 * `aedb backfill-excel` on a synthetic study of N v4 maneuver logs, against `psql \copy` of the same rows,
 * all measured in one run. `npm run bench:backfill` (see bench/README.md); options as argv or env:
 *
 *   --count N            BENCH_COUNT            logs in the corpus (default 1000)
 *   --backend B          BENCH_BACKEND          pglite | postgres | both (default both)
 *   --repeats R          BENCH_REPEATS          runs per measurement, the median is reported (default 3)
 *   --pglite-first R     BENCH_PGLITE_FIRST     first runs on PGlite (default 1 when N >= 500, else R)
 *   --jobs J             BENCH_JOBS             passed to backfill-excel --jobs (default: the CLI's default)
 *   --profile            BENCH_PROFILE=1        one extra first run on PostgreSQL under node --cpu-prof, summarised
 *   --server URL         BENCH_SERVER_URL       PostgreSQL server (default postgresql://postgres@127.0.0.1:5432)
 *   --keep               BENCH_KEEP=1           keep the benchmark databases and PGlite folders afterwards
 *
 * What runs: the CLI as a child process (`node bench/run-built-cli.mjs`, i.e. oclif on a private tsc build of
 * src/ in bench/out/build/dist, the same entry point as bin/run.js), wall time from spawn to exit. Writes a table
 * to stdout and everything to bench/out/backfill-excel.json. No assertions on times anywhere.
 */
import {cp, mkdir, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import ExcelJS from 'exceljs'
import {BENCH_OUT, type Corpus, generateCorpus, REPO_ROOT, verifyRoundTrip} from './generate-corpus.js'
import {BUILD_DIR, buildCli, CLI} from './lib/build-cli.js'
import {COPY_TABLES, type CopyTarget, copyOnce, prepareCopy, rowCounts} from './lib/copy-reference.js'
import {type CpuProfile, type ProfileSummary, type Ranked, summariseProfile} from './lib/cpu-profile.js'
import {
  dropDatabase,
  postmasterPid,
  psql,
  psqlValue,
  removeScratch,
  scratchDatabase,
  scratchPath,
  serverDb,
} from './lib/postgres.js'
import {log, mustRun, run} from './lib/processes.js'
import {fmt, gitState, table} from './lib/report.js'
import {type Measurement, type Sample, summarise, timed} from './lib/statistics.js'
import {measureWriteStage, type WriteStageResult} from './lib/write-stage-line.js'

/** Scratch database names start with this (BENCH_DB_PREFIX): benchmarks run side by side on one server must differ. */
const DB_PREFIX = process.env.BENCH_DB_PREFIX ?? 'aedb_bench'

// ---------------------------------------------------------------------------------------------------------------
// Options

interface Options {
  count: number
  backends: Array<'pglite' | 'postgres'>
  repeats: number
  pgliteFirst: number
  jobs: number | null
  profile: boolean
  serverUrl: string
  keep: boolean
}

function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const flags = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`)
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined]
    if (inline !== undefined) flags.set(name, inline)
    else if (name === 'profile' || name === 'keep') flags.set(name, '1')
    else flags.set(name, argv[++i] ?? '')
  }
  const pick = (flag: string, variable: string) => flags.get(flag) ?? env[variable]
  const int = (flag: string, variable: string, fallback: number) => {
    const text = pick(flag, variable)
    if (text === undefined || text === '') return fallback
    const value = Number(text)
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`--${flag} must be a positive integer, got ${text}`)
    return value
  }
  const count = int('count', 'BENCH_COUNT', 1000)
  const repeats = int('repeats', 'BENCH_REPEATS', 3)
  const backend = pick('backend', 'BENCH_BACKEND') ?? 'both'
  if (!['pglite', 'postgres', 'both'].includes(backend))
    throw new Error(`--backend must be pglite, postgres or both`)
  const jobs = pick('jobs', 'BENCH_JOBS')
  return {
    count,
    backends: backend === 'both' ? ['postgres', 'pglite'] : [backend as 'pglite' | 'postgres'],
    repeats,
    pgliteFirst: int('pglite-first', 'BENCH_PGLITE_FIRST', count >= 500 ? 1 : repeats),
    jobs: jobs ? Number(jobs) : null,
    profile: ['1', 'true', 'yes'].includes(pick('profile', 'BENCH_PROFILE') ?? ''),
    serverUrl: (pick('server', 'BENCH_SERVER_URL') ?? 'postgresql://postgres@127.0.0.1:5432').replace(
      /\/+$/,
      '',
    ),
    keep: ['1', 'true', 'yes'].includes(pick('keep', 'BENCH_KEEP') ?? ''),
  }
}

interface ImportJson {
  files: {seen: number; imported: number; unchanged: number; rejected: number; skipped: number}
  tables: Record<string, {inserted: number; updated: number; unchanged: number}>
  rejected: unknown[]
  warnings: Array<{code: string}>
}

function cliArgs(opts: Options, corpusDir: string, url: string): string[] {
  return [
    'backfill-excel',
    corpusDir,
    '--study',
    'AOA',
    '--database-url',
    url,
    '--json',
    ...(opts.jobs ? ['--jobs', String(opts.jobs)] : []),
  ]
}

async function backfill(opts: Options, corpusDir: string, url: string, nodeFlags: string[] = []) {
  const ran = await run(process.execPath, [...nodeFlags, CLI, ...cliArgs(opts, corpusDir, url)])
  let result: ImportJson
  try {
    result = JSON.parse(ran.stdout) as ImportJson
  } catch {
    throw new Error(`backfill-excel exited ${ran.code} without a JSON result:\n${ran.stderr.slice(-4000)}`)
  }
  return {ran, result}
}

function writes(result: ImportJson): number {
  return Object.values(result.tables).reduce((sum, t) => sum + t.inserted + t.updated, 0)
}

function expectFirstRun(result: ImportJson, count: number): void {
  const f = result.files
  if (f.imported !== count || f.rejected !== 0 || result.rejected.length > 0) {
    throw new Error(
      `first run imported ${f.imported}/${count} workbooks, rejected ${f.rejected}: ${JSON.stringify(result.rejected.slice(0, 3))}`,
    )
  }
}

function expectUnchanged(result: ImportJson, count: number): void {
  const f = result.files
  if (f.unchanged !== count || f.imported !== 0 || writes(result) !== 0) {
    throw new Error(
      `re-run was not a no-op: files ${JSON.stringify(f)}, ${writes(result)} rows inserted or updated`,
    )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Steps

async function checkCorpus(opts: Options, corpus: Corpus): Promise<Record<string, unknown>> {
  // 1. exceljs round trip: every sample used, cell by cell (dates stay dates, to the millisecond).
  const distinct = corpus.logs.filter((l, i) => corpus.logs.findIndex((o) => o.template === l.template) === i)
  let cells = 0
  let dates = 0
  for (const entry of distinct) {
    const report = await verifyRoundTrip(corpus, entry)
    if (report.differences.length > 0) {
      throw new Error(
        `${report.file} differs from its sample:\n${report.differences.slice(0, 10).join('\n')}`,
      )
    }
    cells += report.cells
    dates += report.dates
  }
  log(
    `round trip: ${distinct.length} generated logs equal their samples cell by cell (${cells} cells, ${dates} dates)`,
  )

  // 2. One generated log imports cleanly with the CLI, and its Summary dates arrive as the same wall-clock values.
  const first = corpus.logs[0]!
  const file = path.join(corpus.dir, first.relPath)
  const useServer = opts.backends.includes('postgres')
  const checkDb = `${DB_PREFIX}_check`
  const checkDir = path.join(BENCH_OUT, 'pglite-check')
  const url = useServer ? serverDb(opts, checkDb) : `pglite:${checkDir}`
  if (useServer) await scratchDatabase(opts, checkDb)
  else await scratchPath(checkDir)
  await mustRun(process.execPath, [CLI, 'init', '--database-url', url, '--json'])
  const {ran, result} = await backfill(opts, file, url)
  if (ran.code !== 0 || result.files.imported !== 1 || result.files.rejected !== 0) {
    throw new Error(
      `the generated ${first.relPath} did not import cleanly (exit ${ran.code}): ${ran.stdout.slice(0, 2000)}`,
    )
  }
  const check: Record<string, unknown> = {
    file: first.relPath,
    exit: ran.code,
    tables: result.tables,
    warnings: result.warnings.map((w) => w.code),
  }
  if (useServer) {
    const workbook = new ExcelJS.Workbook()
    await workbook.xlsx.readFile(file)
    const summary = workbook.getWorksheet('Summary')!
    const headers = new Map<string, number>()
    summary.getRow(1).eachCell((cell, column) => headers.set(String(cell.value), column))
    const cell = summary.getRow(2).getCell(headers.get('Log Created')!).value
    if (!(cell instanceof Date)) throw new Error(`Summary Log Created of ${first.relPath} is not a date cell`)
    const expected = cell.toISOString().replace('T', ' ').replace('Z', '')
    const stored = await psqlValue(
      opts,
      checkDb,
      `select to_char(log_created, 'YYYY-MM-DD HH24:MI:SS.MS') from processing_logs`,
    )
    if (stored !== expected)
      throw new Error(`Log Created arrived as ${stored}, the workbook says ${expected}`)
    const participant = await psqlValue(opts, checkDb, 'select participant_number from participants')
    if (participant !== String(first.participant))
      throw new Error(`participant ${participant}, expected ${first.participant}`)
    check.logCreated = stored
    check.participant = Number(participant)
  }
  log(
    `check: ${first.relPath} imports cleanly (${Object.keys(result.tables).length} tables written${check.logCreated ? `, Log Created ${check.logCreated} as in the workbook` : ''})`,
  )
  return {roundTrip: {logs: distinct.length, cells, dates}, import: check}
}

interface BackendResult {
  backend: 'postgres' | 'pglite'
  first: Measurement
  rerun: Measurement
  rowsWritten: Record<string, number>
  tables: ImportJson['tables']
  warnings: number
  notes: string[]
}

/**
 * PostgreSQL: R rounds of [first run into a fresh migrated database, unchanged re-run, \copy bare, \copy schema],
 * interleaved so that all measurements see the same background load; the \copy CSVs come from round 1's import.
 */
async function benchPostgres(opts: Options, corpus: Corpus, postmaster: number | null) {
  const template = await scratchDatabase(opts, `${DB_PREFIX}_template`)
  await mustRun(process.execPath, [CLI, 'init', '--database-url', serverDb(opts, template), '--json'])
  const firsts: Sample[] = []
  const reruns: Sample[] = []
  let last: ImportJson | null = null
  let copy: CopyTarget | null = null
  let rows: Record<string, number> = {}
  for (let r = 1; r <= opts.repeats; r++) {
    const name = await scratchDatabase(opts, `${DB_PREFIX}_pg_${r}`)
    await psql(opts, 'postgres', ['-c', `create database ${name} template ${template}`])
    const url = serverDb(opts, name)
    let first: ImportJson | null = null
    firsts.push(
      await timed(opts, postmaster, async () => {
        const {ran, result} = await backfill(opts, corpus.dir, url)
        first = result
        return ran
      }),
    )
    expectFirstRun(first!, corpus.count)
    last = first
    log(`postgres first run ${r}/${opts.repeats}: ${firsts.at(-1)!.seconds.toFixed(2)} s`)
    let again: ImportJson | null = null
    reruns.push(
      await timed(opts, postmaster, async () => {
        const {ran, result} = await backfill(opts, corpus.dir, url)
        again = result
        return ran
      }),
    )
    expectUnchanged(again!, corpus.count)
    log(`postgres re-run ${r}/${opts.repeats}: ${reruns.at(-1)!.seconds.toFixed(2)} s`)
    const counts = await rowCounts(opts, name)
    if (r === 1) {
      rows = counts
      copy = await prepareCopy(opts, name, template)
    } else if (COPY_TABLES.some((t) => counts[t] !== rows[t])) {
      throw new Error(`round ${r} wrote ${JSON.stringify(counts)}, round 1 ${JSON.stringify(rows)}`)
    }
    for (const v of copy!.variants) {
      const sample = await copyOnce(opts, copy!, v, rows, postmaster)
      log(`\\copy ${v.variant} ${r}/${opts.repeats}: ${sample.seconds.toFixed(2)} s`)
    }
    if (!opts.keep && r > 1) await dropDatabase(opts, name)
  }
  const result: BackendResult = {
    backend: 'postgres',
    first: summarise(firsts),
    rerun: summarise(reruns),
    rowsWritten: rows,
    tables: last!.tables,
    warnings: last!.warnings.length,
    notes: [
      `each first run into a fresh database created from a migrated template (create database ... template ${template})`,
    ],
  }
  return {
    result,
    template,
    copy: {
      csvBytes: copy!.csvBytes,
      results: copy!.variants.map((v) => ({
        variant: v.variant,
        description: v.description,
        measurement: summarise(v.samples),
      })),
    },
  }
}

async function benchPglite(
  opts: Options,
  corpus: Corpus,
): Promise<{result: BackendResult; template: string}> {
  const template = path.join(BENCH_OUT, `pglite-template`)
  await scratchPath(template)
  const initStarted = performance.now()
  await mustRun(process.execPath, [CLI, 'init', '--database-url', `pglite:${template}`, '--json'])
  const initSeconds = (performance.now() - initStarted) / 1000
  const firsts: Sample[] = []
  const reruns: Sample[] = []
  let last: ImportJson | null = null
  const dirs: string[] = []
  for (let r = 1; r <= opts.pgliteFirst; r++) {
    const dir = path.join(BENCH_OUT, `pglite-${r}`)
    dirs.push(dir)
    await scratchPath(dir)
    await cp(template, dir, {recursive: true})
    const url = `pglite:${dir}`
    let first: ImportJson | null = null
    firsts.push(
      await timed(opts, null, async () => {
        const {ran, result} = await backfill(opts, corpus.dir, url)
        first = result
        return ran
      }),
    )
    expectFirstRun(first!, corpus.count)
    last = first
    log(`pglite first run ${r}/${opts.pgliteFirst}: ${firsts.at(-1)!.seconds.toFixed(2)} s`)
  }
  const dir = dirs.at(-1)!
  for (let r = 1; r <= opts.repeats; r++) {
    let again: ImportJson | null = null
    reruns.push(
      await timed(opts, null, async () => {
        const {ran, result} = await backfill(opts, corpus.dir, `pglite:${dir}`)
        again = result
        return ran
      }),
    )
    expectUnchanged(again!, corpus.count)
    log(`pglite re-run ${r}/${opts.repeats}: ${reruns.at(-1)!.seconds.toFixed(2)} s`)
  }
  const rowsWritten: Record<string, number> = {}
  for (const table of COPY_TABLES) {
    const t = last!.tables[table]
    rowsWritten[table] = t ? t.inserted : 0
  }
  const result: BackendResult = {
    backend: 'pglite',
    first: summarise(firsts),
    rerun: summarise(reruns),
    rowsWritten,
    tables: last!.tables,
    warnings: last!.warnings.length,
    notes: [
      `first run${opts.pgliteFirst > 1 ? 's' : ''} into a copy of a migrated PGlite folder (init took ${initSeconds.toFixed(1)} s, not timed); re-runs on the last one`,
      'PGlite rows counted from the first run JSON (inserted per table)',
    ],
  }
  return {result, template}
}

// ---------------------------------------------------------------------------------------------------------------
// Profile

/** One extra first run under `node --cpu-prof` into the (fresh, migrated) database at `url`. */
async function profileRun(
  opts: Options,
  corpus: Corpus,
  backend: ProfileSummary['backend'],
  url: string,
): Promise<ProfileSummary> {
  const dir = path.join(BENCH_OUT, `profile-${backend}`)
  await rm(dir, {recursive: true, force: true})
  const {ran, result} = await backfill(opts, corpus.dir, url, ['--cpu-prof', '--cpu-prof-dir', dir])
  expectFirstRun(result, corpus.count)
  const name = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'))
  if (!name) throw new Error('node --cpu-prof wrote no profile')
  const file = path.join(dir, name)
  const summary = summariseProfile(JSON.parse(await readFile(file, 'utf8')) as CpuProfile)
  log(`profile (${backend}): ${ran.seconds.toFixed(2)} s under --cpu-prof, ${path.relative(REPO_ROOT, file)}`)
  return {backend, wallSeconds: ran.seconds, file: path.relative(REPO_ROOT, file), ...summary}
}

// ---------------------------------------------------------------------------------------------------------------
// Report

async function main(opts: Options): Promise<void> {
  const benchStarted = performance.now()
  await mkdir(BENCH_OUT, {recursive: true})
  log(`options: ${JSON.stringify(opts)}`)

  const build = await buildCli(process.env.BENCH_REUSE_BUILD === '1')
  log(`built the CLI into ${path.relative(REPO_ROOT, BUILD_DIR)}/dist in ${build.seconds.toFixed(1)} s`)
  const corpus = await generateCorpus({
    count: opts.count,
    onProgress: (done, total) => {
      if (done % 250 === 0 || done === total) log(`generating corpus: ${done}/${total}`)
    },
  })
  log(
    `corpus: ${corpus.count} logs, ${fmt(corpus.bytes / 1048576, 1)} MiB, ${corpus.cached ? 'cached' : `generated in ${corpus.generateSeconds.toFixed(1)} s`} (${path.relative(REPO_ROOT, corpus.dir)})`,
  )
  const checks = await checkCorpus(opts, corpus)

  const serverVersion = opts.backends.includes('postgres')
    ? await psqlValue(opts, 'postgres', 'show server_version')
    : null
  const postmaster = opts.backends.includes('postgres') ? await postmasterPid(opts) : null
  const backends: BackendResult[] = []
  let copy: Awaited<ReturnType<typeof benchPostgres>>['copy'] | null = null
  const profiles: ProfileSummary[] = []
  let writeStage: WriteStageResult | null = null
  if (opts.backends.includes('postgres')) {
    const pg = await benchPostgres(opts, corpus, postmaster)
    backends.push(pg.result)
    copy = pg.copy
    const bare = pg.copy.results.find((r) => r.variant === 'bare')?.measurement.median ?? null
    writeStage = await measureWriteStage(opts, corpus.dir, pg.template, `${DB_PREFIX}_write_stage`, bare)
    if (opts.profile) {
      const name = await scratchDatabase(opts, `${DB_PREFIX}_profile`)
      await psql(opts, 'postgres', ['-c', `create database ${name} template ${pg.template}`])
      profiles.push(await profileRun(opts, corpus, 'postgres', serverDb(opts, name)))
      await dropDatabase(opts, name)
    }
  }
  if (opts.backends.includes('pglite')) {
    const lite = await benchPglite(opts, corpus)
    backends.push(lite.result)
    if (opts.profile) {
      const dir = await scratchPath(path.join(BENCH_OUT, 'pglite-profile'))
      await cp(lite.template, dir, {recursive: true})
      profiles.push(await profileRun(opts, corpus, 'pglite', `pglite:${dir}`))
      await rm(dir, {recursive: true, force: true})
    }
  }
  if (!copy) log('no PostgreSQL backend selected: the \\copy reference is not measured')

  // Rows: what the import wrote into the tables that the \copy reference loads.
  const reference = copy?.results.find((r) => r.variant === 'bare') ?? null
  const referenceSchema = copy?.results.find((r) => r.variant === 'schema') ?? null
  const rowsOf = (b: BackendResult) => Object.values(b.rowsWritten).reduce((a, n) => a + n, 0)
  const rows = backends.length > 0 ? rowsOf(backends[0]!) : 0
  for (const b of backends) {
    if (rowsOf(b) !== rows)
      throw new Error(`${b.backend} wrote ${rowsOf(b)} rows, ${backends[0]!.backend} ${rows}`)
  }
  const totalCpu = (m: Measurement) => m.clientCpu + (m.serverCpu ?? 0)
  const ratios = (m: Measurement, against: Measurement | null) =>
    against
      ? {
          wall: m.median / against.median,
          wallMin: m.min / against.min,
          cpu: totalCpu(m) / totalCpu(against),
        }
      : null

  const header = [
    'backend',
    'measurement',
    'runs',
    'median s',
    'min s',
    'max s',
    'rows/s',
    'xlsx MiB/s',
    'client CPU s',
    'server CPU s',
    'peak RSS MB',
    'load',
    'x \\copy',
    'x \\copy CPU',
  ]
  const lines: string[][] = []
  const cpu = (value: number | null) => (value === null || Number.isNaN(value) ? '-' : fmt(value, 1))
  const row = (backend: string, label: string, m: Measurement, xlsx: boolean) => {
    const r = ratios(m, reference?.measurement ?? null)
    lines.push([
      backend,
      label,
      String(m.samples.length),
      fmt(m.median),
      fmt(m.min),
      fmt(m.max),
      fmt(rows / m.median, 0),
      xlsx ? fmt(corpus.bytes / 1048576 / m.median, 2) : '-',
      cpu(m.clientCpu),
      cpu(m.serverCpu),
      m.peakRssMb === null ? '-' : fmt(m.peakRssMb, 0),
      fmt(m.load, 1),
      r ? fmt(r.wall, 1) : 'n/a',
      r && (m.serverCpu !== null || backend === 'pglite') ? fmt(r.cpu, 1) : 'n/a',
    ])
  }
  for (const b of backends) {
    row(b.backend, 'aedb first run', b.first, true)
    row(b.backend, 'aedb unchanged re-run', b.rerun, true)
  }
  for (const c of copy?.results ?? []) {
    row(
      'postgres',
      c.variant === 'bare'
        ? 'psql \\copy, bare tables (reference)'
        : 'psql \\copy, migrated schema, triggers off',
      c.measurement,
      false,
    )
  }
  const totalSeconds = (performance.now() - benchStarted) / 1000
  const git = await gitState()
  const out: string[] = []
  out.push(
    `aedb backfill-excel: ${corpus.count} synthetic v4 maneuver logs (${fmt(corpus.bytes / 1048576, 1)} MiB of .xlsx) -> ${rows} rows in ${COPY_TABLES.length} tables`,
    `${os.cpus().length} vCPU, Node ${process.versions.node}${serverVersion ? `, PostgreSQL ${serverVersion}` : ''}; git ${git.commit.slice(0, 10)}${git.dirty ? ' + uncommitted changes in src/' : ''}`,
    '',
    table(header, lines),
    '',
  )
  if (reference && copy) {
    out.push(
      `x \\copy: median wall time / median wall time of psql \\copy of the same ${rows} rows (${fmt(copy.csvBytes / 1048576, 1)} MiB of CSV) into bare tables, measured in this run, interleaved.`,
      'x \\copy CPU: (client + server) CPU seconds / those of the \\copy (PGlite: the aedb process alone, the database runs inside it).',
      `load: 1-minute load average when each run started (median); ${os.cpus().length} vCPU.`,
    )
    if (referenceSchema) {
      const parts = backends.map(
        (b) =>
          `${b.backend} first run ${fmt(b.first.median / referenceSchema.measurement.median, 1)}x, re-run ${fmt(b.rerun.median / referenceSchema.measurement.median, 1)}x`,
      )
      out.push(`Against \\copy into the migrated schema (indexes on, triggers off): ${parts.join('; ')}.`)
    }
  }
  if (writeStage)
    out.push(
      `write stage alone (bench/write-stage.ts: ${writeStage.workbooks} parsed workbooks written as one batch in one transaction; rows built beforehand in ${fmt(writeStage.buildSeconds)} s, untimed): ${fmt(writeStage.seconds)} s, ${fmt(writeStage.rowsPerSecond, 0)} rows/s = ${writeStage.vsCopy === null ? 'n/a' : fmt(writeStage.vsCopy, 2)}x the rows/s of \\copy into bare tables`,
    )
  out.push(`rows per table: ${JSON.stringify(backends[0]?.rowsWritten ?? {})}`)
  for (const p of profiles) {
    out.push(
      '',
      `profile of one ${p.backend} first run (node --cpu-prof, ${fmt(p.wallSeconds)} s wall), main-thread self time:`,
    )
    const lines = (items: Ranked[], n: number) =>
      items
        .slice(0, n)
        .map((i) => `  ${fmt(i.share * 100, 1).padStart(5)}%  ${fmt(i.seconds).padStart(6)} s  ${i.name}`)
    out.push(...lines(p.categories, 10), '  top functions:', ...lines(p.functions, 8))
  }
  out.push(
    '',
    `benchmark took ${fmt(totalSeconds, 0)} s; JSON in ${path.relative(REPO_ROOT, path.join(BENCH_OUT, 'backfill-excel.json'))}`,
  )
  process.stdout.write(`\n${out.join('\n')}\n`)

  const report = {
    benchmark: 'backfill-excel',
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.versions.node,
      postgres: serverVersion,
    },
    git,
    options: opts,
    method: {
      aedb: 'node bench/run-built-cli.mjs backfill-excel <corpus> --study AOA --database-url <url> --json, spawned; wall time spawn to exit (includes Node/oclif start-up and opening the database); oclif on a tsc build of src/ in bench/out/build/dist',
      reference: copy?.results.map((r) => r.description) ?? [],
      order:
        'PostgreSQL: R rounds of [first run, re-run, \\copy bare, \\copy schema]; then PGlite; CHECKPOINT before each PostgreSQL measurement',
      rows: `rows written to ${COPY_TABLES.join(', ')} (not counting runs, audit_log, source_imports, import_roots)`,
      xlsxMiBPerSecond:
        'corpus .xlsx bytes / wall time; the first run reads and SHA-256-hashes every workbook, the re-run hashes nothing (size+mtime cache)',
      clientCpu: 'CPU seconds of the spawned process (cutime+cstime of the benchmark process)',
      serverCpu:
        "CPU seconds of the local PostgreSQL postmaster's children (its cutime+cstime; backends reaped after each run)",
      load: '1-minute load average when each run started',
    },
    build,
    corpus: {
      dir: path.relative(REPO_ROOT, corpus.dir),
      count: corpus.count,
      bytes: corpus.bytes,
      cached: corpus.cached,
      generateSeconds: corpus.generateSeconds,
    },
    checks,
    rows,
    backends: backends.map((b) => ({
      ...b,
      firstRowsPerSecond: rows / b.first.median,
      rerunRowsPerSecond: rows / b.rerun.median,
      firstXlsxBytesPerSecond: corpus.bytes / b.first.median,
      firstVsCopy: ratios(b.first, reference?.measurement ?? null),
      rerunVsCopy: ratios(b.rerun, reference?.measurement ?? null),
      firstVsCopySchema: ratios(b.first, referenceSchema?.measurement ?? null),
      rerunVsCopySchema: ratios(b.rerun, referenceSchema?.measurement ?? null),
    })),
    copy: copy
      ? {
          csvBytes: copy.csvBytes,
          results: copy.results.map((r) => ({...r, rowsPerSecond: rows / r.measurement.median})),
        }
      : null,
    writeStage,
    profiles,
    totalSeconds,
  }
  await writeFile(path.join(BENCH_OUT, 'backfill-excel.json'), `${JSON.stringify(report, null, 2)}\n`)
}

const options = parseOptions(process.argv.slice(2), process.env)
try {
  await main(options)
} finally {
  if (!options.keep) await removeScratch(options)
}
