/**
 * `aedb verify` over N recorded files, against the tools a person would use instead, all measured in one run.
 * `npm run bench:verify` (see bench/README.md); options as argv or env:
 *
 *   --count N     BENCH_COUNT     files in the tree and in the database (default 5000; the README reports 100000)
 *   --bytes B     BENCH_BYTES     bytes per file (default 8192)
 *   --jobs J      BENCH_JOBS      passed to verify --jobs (default 4)
 *   --keep        BENCH_KEEP=1    keep the tree and the database afterwards
 *   --rounds R    BENCH_ROUNDS    runs of each measured pair, in turn; the median run is reported (default 5)
 *   --server URL  BENCH_SERVER    a PostgreSQL server (postgresql://user@host:port); the bench creates a fresh
 *                                 database on it (aedb_bench_verify_<pid>) and drops it afterwards. Default: PGlite.
 *
 * What runs, each under /usr/bin/time (wall seconds and peak RSS of the child):
 *   stat-only:  aedb verify --check files          vs  find <tree> -type f -printf '%s %T@\n'
 *   rehash:     aedb verify --check files --rehash vs  sha256sum (xargs -0 over the same files)
 *                                                  and openssl dgst -sha256 (xargs -0 over the same files)
 * aedb is oclif on the benches' tsc build of src/ (bench/out/build, bench/lib/build-cli.ts), spawned like a user would, on the
 * embedded database (PGlite): its time includes Node start-up and opening the database. The tree and the
 * database are made by this script (the files rows written directly, with their real size, mtime and SHA-256),
 * so verify finds nothing. Writes a table to stdout and everything to bench/out/verify.json (verify-postgresql.json with --server). No assertions.
 */
import {spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, rm, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {sql} from 'kysely'
import pg from 'pg'
import {withDatabase} from '../src/db/connection.js'
import {parseDatabaseUrl} from '../src/db/database-url.js'
import {deterministicId} from '../src/db/deterministic-id.js'
import {MIGRATIONS} from '../src/db/migrations.js'
import {migrateUp} from '../src/db/migrator.js'
import {upsertRows} from '../src/db/upsert-rows.js'
import {buildCli, CLI} from './lib/build-cli.js'

/** A fresh database on the server for this run; returns its URL. */
async function serverDatabase(server: string, name: string, drop = false): Promise<string> {
  const admin = new pg.Client({connectionString: server})
  await admin.connect()
  try {
    await admin.query(`drop database if exists ${name}`)
    if (!drop) await admin.query(`create database ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(server)
  url.pathname = `/${name}`
  return url.toString()
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
const BENCH_OUT = path.join(REPO_ROOT, 'bench', 'out')

function option(name: string, env: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  const text = at >= 0 ? process.argv[at + 1] : process.env[env]
  return text === undefined ? fallback : Number(text)
}

const COUNT = option('count', 'BENCH_COUNT', 5000)
const BYTES = option('bytes', 'BENCH_BYTES', 8192)
const JOBS = option('jobs', 'BENCH_JOBS', 4)
const KEEP = process.argv.includes('--keep') || process.env.BENCH_KEEP === '1'
const ROUNDS = Math.max(1, option('rounds', 'BENCH_ROUNDS', 5))
const SERVER = (() => {
  const at = process.argv.indexOf('--server')
  return at >= 0 ? process.argv[at + 1] : process.env.BENCH_SERVER
})()

interface Measured {
  code: number
  seconds: number
  peakRssMb: number
  stdout: string
  stderr: string
}

/** Runs a command under /usr/bin/time: wall seconds and the child's peak RSS. */
function measure(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '@@time %e %M', command, ...args], {
      cwd: REPO_ROOT,
      env: {...process.env, ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.on('error', reject)
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString('utf8')
      const match = /@@time ([\d.]+) (\d+)/.exec(stderr)
      resolve({
        code: code ?? -1,
        seconds: match ? Number(match[1]) : Number.NaN,
        peakRssMb: match ? Number(match[2]) / 1024 : Number.NaN,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: stderr.replace(/@@time.*\n?/, ''),
      })
    })
  })
}

/**
 * ROUNDS runs of each command, one after the other in turn (a sub-second run on a shared machine moves by ±30 %
 * from one run to the next): the median run of each by wall time, with its peak RSS the highest of all its runs and
 * every run's seconds in `runs`.
 */
async function alternate<K extends string>(
  commands: Record<K, () => Promise<Measured>>,
): Promise<Record<K, Measured & {runs: number[]}>> {
  const runs = new Map<K, Measured[]>()
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(commands) as Array<[K, () => Promise<Measured>]>) {
      const m = await run()
      if (m.code !== 0) throw new Error(`${name} exited ${m.code}: ${m.stderr.slice(-2000)}`)
      runs.set(name, [...(runs.get(name) ?? []), m])
    }
  }
  const result = {} as Record<K, Measured & {runs: number[]}>
  for (const [name, all] of runs) {
    const sorted = [...all].sort((a, b) => a.seconds - b.seconds)
    const median = sorted[Math.floor((sorted.length - 1) / 2)]!
    const peakRssMb = Math.max(...all.map((m) => m.peakRssMb))
    result[name] = {...median, peakRssMb, runs: all.map((m) => m.seconds)}
  }
  return result
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

/** N files of BYTES random bytes, 1000 to a folder, and their files rows (real size, mtime, SHA-256). */
async function makeTree(tree: string, url: string): Promise<void> {
  const rows: Array<Record<string, unknown>> = []
  const rootId = deterministicId('import_root', tree)
  for (let i = 0; i < COUNT; i++) {
    const rel = `d${String(Math.floor(i / 1000)).padStart(4, '0')}/f${String(i).padStart(7, '0')}.bin`
    const absolute = path.join(tree, rel)
    if (i % 1000 === 0) await mkdir(path.dirname(absolute), {recursive: true})
    const bytes = randomBytes(BYTES)
    await writeFile(absolute, bytes)
    const info = await stat(absolute)
    rows.push({
      id: deterministicId('file', tree, rel),
      root_id: rootId,
      rel_path: rel,
      kind: 'other',
      present: true,
      size_bytes: BYTES,
      mtime: new Date(Math.floor(info.mtimeMs)),
      sha256: createHash('sha256').update(bytes).digest('hex'),
      hashed_at: new Date(),
    })
  }
  await withDatabase(parseDatabaseUrl(url, '--database-url'), async ({db}) => {
    await migrateUp({db, migrations: MIGRATIONS})
    await upsertRows({db, table: 'import_roots', rows: [{id: rootId, path: tree}], conflict: ['path']})
    await upsertRows({db, table: 'files', rows, conflict: ['root_id', 'rel_path']})
    // An archive at rest has long been vacuumed: without this, the measured runs met PostgreSQL's autovacuum of the
    // 100,000 new rows (and the first reads setting hint bits) on the same 2 cores, one run 3.3x `find`, the next 3.1x.
    await sql`vacuum analyze`.execute(db)
  })
}

function verifyArgs(url: string, rehash: boolean): string[] {
  return [
    CLI,
    'verify',
    '--check',
    'files',
    '--json',
    '--jobs',
    String(JOBS),
    '--database-url',
    url,
    ...(rehash ? ['--rehash'] : []),
  ]
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'aedb-bench-verify-'))
  const tree = path.join(work, 'tree')
  const serverDb = `aedb_bench_verify_${process.pid}`
  const url = SERVER ? await serverDatabase(SERVER, serverDb) : `pglite:${path.join(work, 'db')}`
  const env = {}
  try {
    log(`building the CLI; making ${COUNT} files of ${BYTES} bytes in ${tree}`)
    // The shared bench build (bench/out/build, with its oclif manifest), kept when `npm run bench` made it.
    await buildCli(process.env.BENCH_REUSE_BUILD === '1')
    await makeTree(tree, url)
    // The nightly case is an archive at rest: the kernel writes the new files and inodes back first, instead of
    // during the measured runs (on the same disk and cores).
    const synced = await measure('sync', [])
    if (synced.code !== 0) throw new Error(synced.stderr)
    const list = path.join(work, 'files.list')
    const found = await measure('sh', ['-c', `find '${tree}' -type f -print0 > '${list}'`])
    if (found.code !== 0) throw new Error(found.stderr)

    // A first verify records what it saw; the measured runs are the nightly steady state.
    const warm = await measure(process.execPath, verifyArgs(url, false), env)
    if (warm.code !== 0) throw new Error(`verify exited ${warm.code}: ${warm.stderr.slice(-2000)}`)
    // Start-up and opening the database, for the net figures: a verify that checks only the schema.
    const startup = await measure(
      process.execPath,
      [CLI, 'verify', '--check', 'schema', '--json', '--database-url', url],
      env,
    )
    log(`stat-only, ${ROUNDS} rounds`)
    const statPair = await alternate({
      find: () => measure('sh', ['-c', `find '${tree}' -type f -printf '%s %T@\\n' > /dev/null`]),
      statOnly: () => measure(process.execPath, verifyArgs(url, false), env),
    })
    const {find, statOnly} = statPair
    log(`rehash, ${ROUNDS} rounds`)
    const sha256sum = await measure('sh', ['-c', `xargs -0 sha256sum < '${list}' > /dev/null`])
    const hashPair = await alternate({
      openssl: () => measure('sh', ['-c', `xargs -0 openssl dgst -sha256 < '${list}' > /dev/null`]),
      rehash: () => measure(process.execPath, verifyArgs(url, true), env),
    })
    const {openssl, rehash} = hashPair
    for (const [name, m] of Object.entries({statOnly, rehash})) {
      if (m.code !== 0) throw new Error(`${name}: verify exited ${m.code}: ${m.stderr.slice(-2000)}`)
    }
    const report = JSON.parse(rehash.stdout) as {
      checked: {files: number; bytesHashed: number}
      findings: unknown[]
    }
    const bytes = COUNT * BYTES
    const mbps = (m: Measured) => bytes / 1e6 / m.seconds
    const result = {
      count: COUNT,
      bytesPerFile: BYTES,
      jobs: JOBS,
      backend: SERVER ? 'postgresql' : 'pglite',
      cpus: os.cpus().length,
      loadAverage: os.loadavg(),
      verifyFindings: report.findings.length,
      verifyFilesChecked: report.checked.files,
      verifyBytesHashed: report.checked.bytesHashed,
      startupSeconds: startup.seconds,
      startupPeakRssMb: startup.peakRssMb,
      rounds: ROUNDS,
      statOnly: {
        aedbRuns: statOnly.runs,
        findRuns: find.runs,
        aedbSeconds: statOnly.seconds,
        aedbNetSeconds: statOnly.seconds - startup.seconds,
        netRatio: (statOnly.seconds - startup.seconds) / find.seconds,
        findSeconds: find.seconds,
        ratio: statOnly.seconds / find.seconds,
        aedbPeakRssMb: statOnly.peakRssMb,
      },
      rehash: {
        aedbRuns: rehash.runs,
        opensslRuns: openssl.runs,
        aedbSeconds: rehash.seconds,
        aedbMBps: mbps(rehash),
        sha256sumSeconds: sha256sum.seconds,
        sha256sumMBps: mbps(sha256sum),
        opensslSeconds: openssl.seconds,
        opensslMBps: mbps(openssl),
        aedbVsOpenssl: mbps(rehash) / mbps(openssl),
        aedbNetMBps: bytes / 1e6 / (rehash.seconds - startup.seconds),
        aedbNetVsOpenssl: bytes / 1e6 / (rehash.seconds - startup.seconds) / mbps(openssl),
        aedbVsSha256sum: mbps(rehash) / mbps(sha256sum),
        aedbPeakRssMb: rehash.peakRssMb,
      },
    }
    await mkdir(BENCH_OUT, {recursive: true})
    await writeFile(
      path.join(BENCH_OUT, SERVER ? 'verify-postgresql.json' : 'verify.json'),
      `${JSON.stringify(result, null, 2)}\n`,
    )
    const f = (n: number, d = 2) => n.toFixed(d)
    const spread = (runs: number[]) => `${f(Math.min(...runs))}-${f(Math.max(...runs))}`
    process.stdout.write(
      [
        `aedb verify (${result.backend}), ${COUNT} files x ${BYTES} bytes, --jobs ${JOBS}, ${result.cpus} CPUs, load ${result.loadAverage.map((l) => f(l)).join(' ')}`,
        `findings: ${result.verifyFindings}; files checked: ${result.verifyFilesChecked}; bytes hashed: ${result.verifyBytesHashed}`,
        `median of ${ROUNDS} alternating runs each; stat-only ${spread(statOnly.runs)} s, find ${spread(find.runs)} s, --rehash ${spread(rehash.runs)} s, openssl ${spread(openssl.runs)} s`,
        '',
        '| measurement | aedb | reference | ratio | aedb peak RSS |',
        '| --- | --- | --- | --- | --- |',
        `| start-up + open (verify --check schema) | ${f(startup.seconds)} s | | | ${f(startup.peakRssMb, 0)} MB |`,
        `| stat-only | ${f(statOnly.seconds)} s (net ${f(result.statOnly.aedbNetSeconds)} s) | find -printf: ${f(find.seconds)} s | ${f(result.statOnly.ratio)}x the time (net ${f(result.statOnly.netRatio)}x) | ${f(statOnly.peakRssMb, 0)} MB |`,
        `| --rehash | ${f(mbps(rehash), 0)} MB/s (${f(rehash.seconds)} s; net ${f(result.rehash.aedbNetMBps, 0)} MB/s) | openssl: ${f(mbps(openssl), 0)} MB/s (${f(openssl.seconds)} s) | ${f(result.rehash.aedbVsOpenssl)}x the bytes/s (net ${f(result.rehash.aedbNetVsOpenssl)}x) | ${f(rehash.peakRssMb, 0)} MB |`,
        `| --rehash | | sha256sum: ${f(mbps(sha256sum), 0)} MB/s (${f(sha256sum.seconds)} s) | ${f(result.rehash.aedbVsSha256sum)}x the bytes/s | |`,
        '',
      ].join('\n'),
    )
  } finally {
    if (KEEP) log(`kept ${work}${SERVER ? ` and database ${serverDb}` : ''}`)
    else {
      await rm(work, {recursive: true, force: true})
      if (SERVER) await serverDatabase(SERVER, serverDb, true)
    }
  }
}

await main()
