/**
 * `aedb import-json` first run and unchanged re-run on a synthetic media tree of N recordings (real Opus stems and
 * PNG waveforms copied from the sample tree), on PostgreSQL and PGlite, against the tools a person would otherwise
 * run over the same files: `find` (listing), `sha256sum` and `openssl dgst -sha256` (hashing), `ffprobe`
 * (probing; skipped, saying so, when it is not installed). `npm run bench:import-json`:
 *
 *   --count N     BENCH_COUNT        recordings (default 1000)
 *   --backend B   BENCH_BACKEND      pglite | postgres | both (default both)
 *   --server URL  BENCH_SERVER_URL   PostgreSQL server (default postgresql://postgres@127.0.0.1:5432)
 *
 * Each command runs as a child process under /usr/bin/time (wall seconds, peak RSS). Prints a table, writes
 * bench/out/import-json.json (the `npm run bench -- --json` line shape). No assertions on times.
 */
import {mkdir, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {BENCH_OUT} from './generate-corpus.js'
import {type BenchResult, ratioTo, skippedLine} from './lib/bench-result.js'
import {buildCli, CLI} from './lib/build-cli.js'
import {generateMediaTree, type MediaTree} from './lib/media-tree.js'
import {
  psql,
  removeScratch,
  type ServerOptions,
  scratchDatabase,
  scratchPath,
  serverDb,
} from './lib/postgres.js'
import {log, mustRun, type Ran, run} from './lib/processes.js'
import {fmt, renderResults} from './lib/report.js'

interface Options extends ServerOptions {
  count: number
  backends: Array<'postgres' | 'pglite'>
}

function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const value = (flag: string, variable: string) => {
    const at = argv.indexOf(`--${flag}`)
    return at >= 0 ? argv[at + 1] : env[variable]
  }
  const backend = value('backend', 'BENCH_BACKEND') ?? 'both'
  if (!['pglite', 'postgres', 'both'].includes(backend))
    throw new Error('--backend must be pglite, postgres or both')
  return {
    count: Number(value('count', 'BENCH_COUNT') ?? 1000),
    backends: backend === 'both' ? ['postgres', 'pglite'] : [backend as 'postgres' | 'pglite'],
    serverUrl: (value('server', 'BENCH_SERVER_URL') ?? 'postgresql://postgres@127.0.0.1:5432').replace(
      /\/+$/,
      '',
    ),
  }
}

interface ImportResult {
  files: {seen: number; imported: number; unchanged: number; rejected: number}
  tables: Record<string, {inserted: number; updated: number; unchanged: number}>
}

async function importJson(tree: MediaTree, url: string): Promise<{ran: Ran; result: ImportResult}> {
  const ran = await run(process.execPath, [CLI, 'import-json', tree.media, '--database-url', url, '--json'])
  try {
    return {ran, result: JSON.parse(ran.stdout) as ImportResult}
  } catch {
    throw new Error(`import-json exited ${ran.code} without a JSON result:\n${ran.stderr.slice(-3000)}`)
  }
}

/** A fresh migrated database of the backend (creating it is not timed). */
async function freshDatabase(opts: Options, backend: 'postgres' | 'pglite'): Promise<string> {
  let url: string
  if (backend === 'postgres') {
    const name = await scratchDatabase(opts, `aedb_bench_json_${process.pid}`)
    await psql(opts, 'postgres', ['-c', `create database ${name}`])
    url = serverDb(opts, name)
  } else {
    url = `pglite:${await scratchPath(path.join(BENCH_OUT, 'pglite-import-json'))}`
  }
  await mustRun(process.execPath, [CLI, 'init', '--database-url', url, '--json'])
  return url
}

/** First run and unchanged re-run of one backend; both must import (then skip) every recording. */
async function benchBackend(opts: Options, tree: MediaTree, backend: 'postgres' | 'pglite') {
  const url = await freshDatabase(opts, backend)
  const first = await importJson(tree, url)
  if (first.result.files.imported !== tree.recordings || first.result.files.rejected !== 0)
    throw new Error(`first run: ${JSON.stringify(first.result.files)}; expected ${tree.recordings} imported`)
  log(`${backend} import-json first run: ${fmt(first.ran.seconds)} s`)
  const again = await importJson(tree, url)
  const writes = Object.values(again.result.tables).reduce((n, t) => n + t.inserted + t.updated, 0)
  if (again.result.files.unchanged !== tree.recordings || writes !== 0)
    throw new Error(`re-run was not a no-op: ${JSON.stringify(again.result.files)}, ${writes} rows written`)
  log(`${backend} import-json re-run: ${fmt(again.ran.seconds)} s`)
  const rows = Object.values(first.result.tables).reduce((n, t) => n + t.inserted, 0)
  return {first: first.ran, again: again.ran, rows}
}

/** The reference tools over exactly the files of the tree (listed once by find into a NUL-separated file). */
async function references(tree: MediaTree): Promise<BenchResult[]> {
  const list = path.join(BENCH_OUT, 'media-tree-files.list')
  await mustRun('sh', ['-c', `find '${tree.media}' -type f -print0 > '${list}'`])
  const line = (name: string, ran: Ran): BenchResult => ({
    name,
    backend: 'none',
    seconds: ran.seconds,
    rows: null,
    bytes: tree.bytes,
    peakRssMb: ran.peakRssMb,
    ratio: null,
  })
  const results = [
    line('find (list the tree)', await mustRun('sh', ['-c', `find '${tree.media}' -type f > /dev/null`])),
    line('sha256sum', await mustRun('sh', ['-c', `xargs -0 sha256sum < '${list}' > /dev/null`])),
    line(
      'openssl dgst -sha256',
      await mustRun('sh', ['-c', `xargs -0 openssl dgst -sha256 < '${list}' > /dev/null`]),
    ),
  ]
  const ffprobe = await run('sh', ['-c', 'command -v ffprobe'])
  if (ffprobe.code !== 0) results.push(skippedLine('ffprobe (every stem)', 'ffprobe is not installed'))
  else {
    const stems = `find '${tree.media}' -name '*.opus' -print0 | xargs -0 -n 1 ffprobe -v error -show_format > /dev/null`
    results.push(line('ffprobe (every stem)', await mustRun('sh', ['-c', stems])))
  }
  return results
}

export async function benchImportJson(opts: Options): Promise<BenchResult[]> {
  await mkdir(BENCH_OUT, {recursive: true})
  await buildCli(process.env.BENCH_REUSE_BUILD === '1')
  const tree = await generateMediaTree(opts.count)
  log(`media tree: ${tree.recordings} recordings, ${tree.files} files, ${fmt(tree.bytes / 1048576, 1)} MiB`)
  const refs = await references(tree)
  const sha = refs.find((r) => r.name === 'sha256sum')
  const find = refs.find((r) => r.name.startsWith('find'))
  const results: BenchResult[] = []
  for (const backend of opts.backends) {
    const m = await benchBackend(opts, tree, backend)
    const line = (name: string, ran: Ran, to: BenchResult | undefined): BenchResult => ({
      name,
      backend,
      seconds: ran.seconds,
      rows: m.rows,
      bytes: tree.bytes,
      peakRssMb: ran.peakRssMb,
      ratio: ratioTo(ran.seconds, to),
    })
    results.push(
      line('import-json first run', m.first, sha),
      line('import-json unchanged re-run', m.again, find),
    )
  }
  return [...results, ...refs]
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), process.env)
  try {
    const results = await benchImportJson(opts)
    await writeFile(
      path.join(BENCH_OUT, 'import-json.json'),
      `${JSON.stringify({date: new Date().toISOString(), load: os.loadavg(), options: opts, results}, null, 2)}\n`,
    )
    process.stdout.write(`${renderResults(results)}\n`)
  } finally {
    await removeScratch(opts)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
