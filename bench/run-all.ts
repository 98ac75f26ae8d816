/**
 * `npm run bench`: every command's benchmark with its reference tool, on both backends, in one run.
 * `npm run bench -- --quick` uses small counts (a few minutes from a fresh clone); `--json` prints
 * `{"machine", "results": [{"name", "backend", "seconds", "rows", "bytes", "peakRssMb", "ratio": {"to", "value"}}]}`
 * on stdout instead of the table (progress goes to stderr either way). Also written to bench/out/bench.json.
 *
 *   --quick                 small counts (backfill 100 logs, import-json 100 recordings, export 20,000 rows,
 *                           verify 1,000 files)
 *   --json                  the JSON document on stdout
 *   --only a,b              only these steps (backfill, pandas, import-json, export, verify)
 *   --server URL            PostgreSQL server (default postgresql://postgres@127.0.0.1:5432)
 *
 * Each step is the benchmark file of its command, run as a child process (bench/*.bench.ts), whose JSON output
 * is turned into result lines here; the CLI is built once (bench/out/build) and reused by the steps that can.
 */
import {mkdir, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {BENCH_OUT, REPO_ROOT} from './generate-corpus.js'
import {benchImportJson} from './import-json.bench.js'
import type {BenchResult} from './lib/bench-result.js'
import {backfillLines, exportLines, pandasLine, verifyLines} from './lib/bench-steps.js'
import {buildCli} from './lib/build-cli.js'
import {removeScratch} from './lib/postgres.js'
import {log, run} from './lib/processes.js'
import {gitState, renderResults} from './lib/report.js'

const STEPS = ['backfill', 'pandas', 'import-json', 'export', 'verify'] as const
type Step = (typeof STEPS)[number]

interface Options {
  quick: boolean
  json: boolean
  only: Set<Step>
  serverUrl: string
}

function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string) => {
    const at = argv.indexOf(`--${flag}`)
    return at >= 0 ? argv[at + 1] : undefined
  }
  const only = value('only')?.split(',') ?? [...STEPS]
  for (const step of only) {
    if (!(STEPS as readonly string[]).includes(step))
      throw new Error(`--only: unknown step ${step}; expected some of ${STEPS.join(', ')}`)
  }
  return {
    quick: argv.includes('--quick'),
    json: argv.includes('--json'),
    only: new Set(only as Step[]),
    serverUrl: (value('server') ?? 'postgresql://postgres@127.0.0.1:5432').replace(/\/+$/, ''),
  }
}

async function machine(serverUrl: string) {
  const version = await run('psql', ['-X', '-At', '-d', `${serverUrl}/postgres`, '-c', 'show server_version'])
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.versions.node,
    postgres: version.code === 0 ? version.stdout.trim() : null,
    loadAverage: os.loadavg(),
    date: new Date().toISOString(),
    git: await gitState(),
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  const started = performance.now()
  await mkdir(BENCH_OUT, {recursive: true})
  const before = await machine(opts.serverUrl)
  log(
    `building the CLI once (bench/out/build); load ${before.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
  )
  await buildCli()
  process.env.BENCH_REUSE_BUILD = '1'
  const counts = opts.quick
    ? {logs: 100, recordings: 100, exportRows: 20_000, verifyFiles: 1000}
    : {logs: 1000, recordings: 1000, exportRows: 1_000_000, verifyFiles: 5000}
  const results: BenchResult[] = []
  const server = opts.serverUrl
  if (opts.only.has('backfill')) results.push(...(await backfillLines(counts.logs, server)))
  if (opts.only.has('pandas')) results.push(await pandasLine(counts.logs))
  if (opts.only.has('import-json')) {
    log(`import-json: ${counts.recordings} recordings`)
    try {
      results.push(
        ...(await benchImportJson({
          count: counts.recordings,
          backends: ['postgres', 'pglite'],
          serverUrl: server,
        })),
      )
    } finally {
      // The step's scratch database and PGlite folder (its own main() drops them; called from here, this does).
      await removeScratch({serverUrl: server})
    }
  }
  if (opts.only.has('export')) results.push(...(await exportLines(counts.exportRows, server)))
  if (opts.only.has('verify')) results.push(...(await verifyLines(counts.verifyFiles, server)))
  const report = {
    machine: {...before, loadAverageAfter: os.loadavg(), seconds: (performance.now() - started) / 1000},
    options: {...opts, only: [...opts.only], counts},
    results,
  }
  await writeFile(path.join(BENCH_OUT, 'bench.json'), `${JSON.stringify(report, null, 2)}\n`)
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else
    process.stdout.write(
      `\n${renderResults(results)}\n\nbenchmark took ${report.machine.seconds.toFixed(0)} s; load before ${before.loadAverage.map((l) => l.toFixed(2)).join(' ')}, after ${report.machine.loadAverageAfter.map((l) => l.toFixed(2)).join(' ')}; JSON in ${path.relative(REPO_ROOT, path.join(BENCH_OUT, 'bench.json'))}\n`,
    )
}

await main()
