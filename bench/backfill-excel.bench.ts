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
import {type SpawnOptions, spawn} from 'node:child_process'
import {cp, mkdir, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import ExcelJS from 'exceljs'
import {BENCH_OUT, type Corpus, generateCorpus, REPO_ROOT, verifyRoundTrip} from './generate-corpus.js'

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

// ---------------------------------------------------------------------------------------------------------------
// Processes, CPU accounting

const CLK_TCK = 100

/** utime + stime (+ cutime + cstime: children that were waited for) of a process, in seconds. */
async function processCpu(pid: number | 'self', withChildren: boolean): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
  const at = (field: number) => Number(fields[field - 3])
  return (at(14) + at(15) + (withChildren ? at(16) + at(17) : 0)) / CLK_TCK
}

interface Ran {
  code: number
  stdout: string
  stderr: string
  seconds: number
  /** CPU seconds of the child process (and its children), from this process's cutime/cstime. */
  cpuSeconds: number
}

async function run(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<Ran> {
  const cpuBefore = await processCpu('self', true).catch(() => Number.NaN)
  const selfBefore = await processCpu('self', false).catch(() => Number.NaN)
  const started = performance.now()
  const child = spawn(command, args, {cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options})
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout?.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => err.push(chunk))
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (status) => resolve(status ?? -1))
  })
  const seconds = (performance.now() - started) / 1000
  const cpuAfter = await processCpu('self', true).catch(() => Number.NaN)
  const selfAfter = await processCpu('self', false).catch(() => Number.NaN)
  return {
    code,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    seconds,
    cpuSeconds: cpuAfter - cpuBefore - (selfAfter - selfBefore),
  }
}

async function mustRun(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<Ran> {
  const result = await run(command, args, options)
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}\n${result.stderr.slice(-4000)}`)
  }
  return result
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

// ---------------------------------------------------------------------------------------------------------------
// The CLI under test and the reference tool

const BUILD_DIR = path.join(BENCH_OUT, 'build')
const CLI = path.join(REPO_ROOT, 'bench', 'run-built-cli.mjs')

async function buildCli(): Promise<{seconds: number; typeErrors: boolean}> {
  await rm(BUILD_DIR, {recursive: true, force: true})
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  // tsc emits even when the shared working tree has type errors elsewhere; say so rather than stop.
  const result = await run(process.execPath, [
    tsc,
    '-p',
    'tsconfig.build.json',
    '--outDir',
    path.join(BUILD_DIR, 'dist'),
  ])
  if (result.code !== 0)
    log(`tsc reported errors (the build was still emitted):\n${result.stdout.slice(0, 2000)}`)
  await stat(path.join(BUILD_DIR, 'dist', 'src', 'commands', 'backfill-excel.js'))
  return {seconds: result.seconds, typeErrors: result.code !== 0}
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

/** The tables whose rows an import of maneuver logs creates, and that the \copy reference loads. */
const COPY_TABLES = [
  'studies',
  'participants',
  'files',
  'processing_logs',
  'audio_processing',
  'biomechanics_imports',
  'synchronizations',
  'cycle_extraction_summaries',
  'movement_cycles',
] as const

function serverDb(opts: Options, name: string): string {
  return `${opts.serverUrl}/${name}`
}

async function psql(opts: Options, database: string, args: readonly string[]): Promise<Ran> {
  return mustRun('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', serverDb(opts, database), ...args])
}

async function psqlValue(opts: Options, database: string, query: string): Promise<string> {
  return (await psql(opts, database, ['-At', '-c', query])).stdout.trim()
}

async function dropDatabase(opts: Options, name: string): Promise<void> {
  await psql(opts, 'postgres', ['-c', `drop database if exists ${name} with (force)`])
}

/** Databases and folders this run creates; all removed at the end (also after a failure) unless --keep. */
const scratch = {databases: new Set<string>(), paths: new Set<string>()}

/** Drops `name` if it exists (left over from an earlier run) and registers it for removal at the end. */
async function scratchDatabase(opts: Options, name: string): Promise<string> {
  scratch.databases.add(name)
  await dropDatabase(opts, name)
  return name
}

async function scratchPath(target: string): Promise<string> {
  scratch.paths.add(target)
  scratch.paths.add(`${target}.lock`)
  await rm(target, {recursive: true, force: true})
  await rm(`${target}.lock`, {force: true})
  return target
}

async function removeScratch(opts: Options): Promise<void> {
  for (const name of scratch.databases) {
    await dropDatabase(opts, name).catch((error) => log(`could not drop ${name}: ${error}`))
  }
  for (const target of scratch.paths) await rm(target, {recursive: true, force: true})
}

async function rowCounts(
  opts: Options,
  database: string,
  schema = 'public',
): Promise<Record<string, number>> {
  const query = COPY_TABLES.map((t) => `select '${t}', count(*) from ${schema}.${t}`).join(' union all ')
  const text = await psqlValue(opts, database, query)
  return Object.fromEntries(
    text
      .split('\n')
      .map((line) => line.split('|'))
      .map(([t, n]) => [t!, Number(n)]),
  )
}

/** The PostgreSQL postmaster's pid (so its children's CPU time can be read), or null when it is not local. */
async function postmasterPid(opts: Options): Promise<number | null> {
  try {
    const dataDir = await psqlValue(opts, 'postgres', 'show data_directory')
    const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0])
    await processCpu(pid, true)
    return pid
  } catch {
    return null
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics

interface Sample {
  seconds: number
  /** CPU of the aedb (or psql) client process. */
  clientCpu: number
  /** CPU of the PostgreSQL server (postmaster and its backends), when it is local. */
  serverCpu: number | null
  /** 1-minute load average when the run started (other work on the machine shows here). */
  load: number
}

interface Measurement {
  samples: Sample[]
  median: number
  min: number
  max: number
  clientCpu: number
  serverCpu: number | null
  load: number
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function summarise(samples: Sample[]): Measurement {
  const seconds = samples.map((s) => s.seconds)
  const server = samples.map((s) => s.serverCpu).filter((v): v is number => v !== null)
  return {
    samples,
    median: median(seconds),
    min: Math.min(...seconds),
    max: Math.max(...seconds),
    clientCpu: median(samples.map((s) => s.clientCpu)),
    serverCpu: server.length === samples.length ? median(server) : null,
    load: median(samples.map((s) => s.load)),
  }
}

/**
 * Times `fn`. On a local server a CHECKPOINT first, so that no run pays for the previous run's dirty buffers, and
 * the server's CPU is read from the postmaster before and after.
 */
async function timed(opts: Options, postmaster: number | null, fn: () => Promise<Ran>): Promise<Sample> {
  if (postmaster) await psql(opts, 'postgres', ['-c', 'checkpoint'])
  const load = os.loadavg()[0]!
  const before = postmaster ? await processCpu(postmaster, true) : null
  const ran = await fn()
  // Backends are reaped by the postmaster shortly after the client disconnects.
  if (postmaster) await new Promise((resolve) => setTimeout(resolve, 200))
  const after = postmaster ? await processCpu(postmaster, true) : null
  return {
    seconds: ran.seconds,
    clientCpu: ran.cpuSeconds,
    serverCpu: before !== null && after !== null ? after - before : null,
    load,
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
  const checkDb = 'aedb_bench_check'
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

interface CopyVariant {
  variant: 'bare' | 'schema'
  description: string
  schema: string
  script: string
  samples: Sample[]
}

interface CopyTarget {
  database: string
  csvBytes: number
  variants: CopyVariant[]
}

/**
 * The reference: export every imported table's rows (all columns) from `sourceDb` to CSV with `psql \copy ... to`,
 * and prepare a database to load them into: a migrated one (from the same template) with a schema `bare` of
 * `create table x (like public.x)` copies (the same columns and NOT NULLs; no indexes, constraints, triggers or
 * foreign keys).
 */
async function prepareCopy(opts: Options, sourceDb: string, template: string): Promise<CopyTarget> {
  const csvDir = await scratchPath(path.join(BENCH_OUT, `copy-csv-${process.pid}`))
  await mkdir(csvDir, {recursive: true})
  const csv = (table: string) => path.join(csvDir, `${table}.csv`)
  const q = (file: string) => `'${file.replaceAll("'", "''")}'`
  const exportScript = COPY_TABLES.map(
    (t) => `\\copy (select * from ${t}) to ${q(csv(t))} with (format csv, header)`,
  ).join('\n')
  await writeFile(path.join(csvDir, 'export.sql'), `${exportScript}\n`)
  await psql(opts, sourceDb, ['-f', path.join(csvDir, 'export.sql')])
  let csvBytes = 0
  for (const t of COPY_TABLES) csvBytes += (await stat(csv(t))).size

  const database = await scratchDatabase(opts, 'aedb_bench_copy')
  await psql(opts, 'postgres', ['-c', `create database ${database} template ${template}`])
  await psql(opts, database, [
    '-c',
    `create schema bare; ${COPY_TABLES.map((t) => `create table bare.${t} (like public.${t})`).join('; ')}`,
  ])
  const variants: CopyVariant[] = []
  for (const v of [
    {
      variant: 'bare' as const,
      description:
        'psql \\copy into `create table x (like public.x)` tables: no indexes, constraints, triggers or foreign keys',
      schema: 'bare',
      preamble: '',
    },
    {
      variant: 'schema' as const,
      description:
        'psql \\copy into the migrated schema with triggers off (session_replication_role = replica: no audit/updated_at triggers, no foreign-key checks); primary keys, unique indexes and CHECKs on',
      schema: 'public',
      preamble: 'set session_replication_role = replica;',
    },
  ]) {
    const load = [
      v.preamble,
      ...COPY_TABLES.map((t) => `\\copy ${v.schema}.${t} from ${q(csv(t))} with (format csv, header)`),
    ].join('\n')
    const script = path.join(csvDir, `load-${v.variant}.sql`)
    await writeFile(script, `${load}\n`)
    variants.push({variant: v.variant, description: v.description, schema: v.schema, script, samples: []})
  }
  return {database, csvBytes, variants}
}

/** One timed `psql -f load.sql` into emptied tables, then a check that every row arrived. */
async function copyOnce(
  opts: Options,
  target: CopyTarget,
  v: CopyVariant,
  expected: Record<string, number>,
  postmaster: number | null,
): Promise<Sample> {
  await psql(opts, target.database, [
    '-c',
    `truncate ${COPY_TABLES.map((t) => `${v.schema}.${t}`).join(', ')} cascade`,
  ])
  const sample = await timed(opts, postmaster, () => psql(opts, target.database, ['-f', v.script]))
  const loaded = await rowCounts(opts, target.database, v.schema)
  if (COPY_TABLES.some((t) => loaded[t] !== expected[t])) {
    throw new Error(`\\copy loaded ${JSON.stringify(loaded)}, the import wrote ${JSON.stringify(expected)}`)
  }
  v.samples.push(sample)
  return sample
}

/**
 * PostgreSQL: R rounds of [first run into a fresh migrated database, unchanged re-run, \copy bare, \copy schema],
 * interleaved so that all measurements see the same background load; the \copy CSVs come from round 1's import.
 */
async function benchPostgres(opts: Options, corpus: Corpus, postmaster: number | null) {
  const template = await scratchDatabase(opts, 'aedb_bench_template')
  await mustRun(process.execPath, [CLI, 'init', '--database-url', serverDb(opts, template), '--json'])
  const firsts: Sample[] = []
  const reruns: Sample[] = []
  let last: ImportJson | null = null
  let copy: CopyTarget | null = null
  let rows: Record<string, number> = {}
  for (let r = 1; r <= opts.repeats; r++) {
    const name = await scratchDatabase(opts, `aedb_bench_pg_${r}`)
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

interface ProfileNode {
  id: number
  callFrame: {functionName: string; url: string; lineNumber: number}
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

interface Ranked {
  name: string
  seconds: number
  share: number
}

interface ProfileSummary {
  backend: 'postgres' | 'pglite'
  wallSeconds: number
  file: string
  /** Sampled seconds (wall time of the main thread, idle included). */
  seconds: number
  categories: Ranked[]
  modules: Ranked[]
  functions: Ranked[]
}

function where(url: string): string {
  if (url === '') return '(native/vm)'
  if (url.startsWith('wasm://')) return 'wasm'
  if (url.startsWith('node:')) return 'node internals'
  const modules = url.lastIndexOf('/node_modules/')
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  const dist = url.indexOf('/dist/')
  return dist >= 0
    ? `aedb ${url.slice(dist + '/dist/'.length).replace(/\.js$/, '.ts')}`
    : url.replace(/^file:\/\//, '')
}

const XLSX_PACKAGES = new Set([
  'exceljs',
  'jszip',
  'pako',
  'saxes',
  'sax',
  'unzipper',
  'fast-csv',
  'dayjs',
  'archiver',
])
const DB_CLIENT_PACKAGES = new Set(['pg', 'pg-protocol', 'pg-pool', 'pg-types', 'postgres-array', 'kysely'])

/** A coarse "where the time goes" bucket for a frame. */
function category(module: string, functionName: string): string {
  if (module === '(native/vm)') {
    if (functionName === '(idle)') return 'idle (waiting for the database server, I/O)'
    if (functionName === '(garbage collector)') return 'garbage collection'
    if (functionName === 'writev' || functionName === 'writeUtf8String' || functionName === 'writeBuffer')
      return 'database client (pg, kysely, socket writes)'
    return 'other native (stat, JSON, crypto, start-up)'
  }
  if (XLSX_PACKAGES.has(module)) return 'reading .xlsx (exceljs, jszip, pako, saxes)'
  if (DB_CLIENT_PACKAGES.has(module)) return 'database client (pg, kysely, socket writes)'
  if (module === '@electric-sql/pglite' || module === 'wasm') return 'PGlite (Postgres in WASM, in-process)'
  if (module.startsWith('aedb ')) return 'aedb code (parse, map, hash ids, build queries)'
  if (module === 'node internals') return 'node internals (streams, fs, module loading)'
  return 'other packages (oclif, fast-glob, ...)'
}

/** Self time by category, by package/module and by function of a .cpuprofile. */
export function summariseProfile(profile: CpuProfile, top = 15) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (const [i, id] of profile.samples.entries()) {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const functions = new Map<string, number>()
  const modules = new Map<string, number>()
  const categories = new Map<string, number>()
  const add = (map: Map<string, number>, key: string, micros: number) =>
    map.set(key, (map.get(key) ?? 0) + micros)
  for (const [id, micros] of self) {
    const frame = byId.get(id)!.callFrame
    const module = where(frame.url)
    add(
      functions,
      `${frame.functionName || '(anonymous)'} ${module}${frame.url ? `:${frame.lineNumber + 1}` : ''}`,
      micros,
    )
    add(modules, frame.url ? module : frame.functionName || '(native/vm)', micros)
    add(categories, category(module, frame.functionName), micros)
  }
  const rank = (map: Map<string, number>, n: number): Ranked[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, micros]) => ({name, seconds: micros / 1e6, share: micros / total}))
  return {
    seconds: total / 1e6,
    categories: rank(categories, 20),
    modules: rank(modules, top),
    functions: rank(functions, top),
  }
}

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

function fmt(value: number, digits = 2): string {
  return value.toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits})
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`
  return [
    line(header),
    `|${widths.map((w, i) => (i < 2 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`,
    ...rows.map(line),
  ].join('\n')
}

async function gitState(): Promise<{commit: string; dirty: boolean}> {
  const commit = await run('git', ['rev-parse', 'HEAD'])
  const status = await run('git', ['status', '--porcelain', '--', 'src', 'migrations'])
  return {commit: commit.stdout.trim(), dirty: status.stdout.trim() !== ''}
}

async function main(opts: Options): Promise<void> {
  const benchStarted = performance.now()
  await mkdir(BENCH_OUT, {recursive: true})
  log(`options: ${JSON.stringify(opts)}`)

  const build = await buildCli()
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
  if (opts.backends.includes('postgres')) {
    const pg = await benchPostgres(opts, corpus, postmaster)
    backends.push(pg.result)
    copy = pg.copy
    if (opts.profile) {
      const name = await scratchDatabase(opts, 'aedb_bench_profile')
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
