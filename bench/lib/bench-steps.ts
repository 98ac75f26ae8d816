/**
 * The steps of `npm run bench`: each runs one command's benchmark file as a child process and turns the JSON it
 * writes into result lines, so the benchmark files stay runnable (and editable) on their own.
 */
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {BENCH_OUT, REPO_ROOT} from '../generate-corpus.js'
import {type BenchResult, ratioTo, skippedLine} from './bench-result.js'
import {log, type Ran, run} from './processes.js'

async function benchFile(file: string, args: readonly string[]): Promise<void> {
  log(`${file} ${args.join(' ')}`)
  const ran = await run(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', file), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  if (ran.code !== 0) throw new Error(`${file} exited ${ran.code}:\n${ran.stdout.slice(-3000)}`)
}

async function readJson<T>(name: string): Promise<T> {
  return JSON.parse(await readFile(path.join(BENCH_OUT, name), 'utf8')) as T
}

interface BackfillReport {
  rows: number
  corpus: {dir: string; bytes: number}
  backends: Array<{
    backend: 'postgres' | 'pglite'
    first: {median: number; peakRssMb: number | null}
    rerun: {median: number; peakRssMb: number | null}
  }>
  copy: {
    csvBytes: number
    results: Array<{variant: string; measurement: {median: number; peakRssMb: number | null}}>
  }
  writeStage?: {rows: number; seconds: number; peakRssMb: number | null} | null
}

/** backfill-excel first run and unchanged re-run on both backends, against `psql \copy` of the same rows. */
export async function backfillLines(count: number, serverUrl: string): Promise<BenchResult[]> {
  await benchFile('backfill-excel.bench.ts', [
    '--count',
    String(count),
    '--repeats',
    '1',
    '--server',
    serverUrl,
  ])
  const report = await readJson<BackfillReport>('backfill-excel.json')
  const copies = report.copy.results.map(
    (c): BenchResult => ({
      name:
        c.variant === 'bare'
          ? 'psql \\copy in (bare tables)'
          : 'psql \\copy in (migrated schema, triggers off)',
      backend: 'postgres',
      seconds: c.measurement.median,
      rows: report.rows,
      bytes: report.copy.csvBytes,
      peakRssMb: c.measurement.peakRssMb,
      ratio: null,
    }),
  )
  const reference = copies[0]
  const lines = report.backends.flatMap((b) =>
    (['first', 'rerun'] as const).map(
      (which): BenchResult => ({
        name: which === 'first' ? 'backfill-excel first run' : 'backfill-excel unchanged re-run',
        backend: b.backend,
        seconds: b[which].median,
        rows: report.rows,
        bytes: report.corpus.bytes,
        peakRssMb: b[which].peakRssMb,
        ratio: ratioTo(b[which].median, reference),
      }),
    ),
  )
  const stage = report.writeStage
  const writeStage: BenchResult[] = stage
    ? [
        {
          name: 'backfill-excel write stage alone (one batch of parsed workbooks)',
          backend: 'postgres',
          seconds: stage.seconds,
          rows: stage.rows,
          bytes: null,
          peakRssMb: stage.peakRssMb,
          ratio: ratioTo(stage.seconds, reference),
        },
      ]
    : []
  return [...lines, ...writeStage, ...copies]
}

/** `pd.read_excel(f, sheet_name=None)` of every workbook of the corpus, when a python3 with pandas exists. */
export async function pandasLine(count: number): Promise<BenchResult> {
  const name = 'pandas read_excel(sheet_name=None), every workbook'
  const python = await findPandasPython()
  if (!python) return skippedLine(name, 'no python3 with pandas and openpyxl on this machine')
  const corpus = path.join(BENCH_OUT, `corpus-v4-${count}`)
  const script = [
    'import pathlib, sys, pandas as pd',
    'n = 0',
    'for f in sorted(pathlib.Path(sys.argv[1]).rglob("*.xlsx")):',
    '    n += sum(len(df) for df in pd.read_excel(f, sheet_name=None).values())',
    'print(n)',
  ].join('\n')
  const ran: Ran = await run(python, ['-c', script, corpus])
  if (ran.code !== 0) return skippedLine(name, `pandas failed: ${ran.stderr.trim().split('\n').at(-1)}`)
  return {
    name,
    backend: 'none',
    seconds: ran.seconds,
    rows: Number(ran.stdout.trim()),
    bytes: null,
    peakRssMb: ran.peakRssMb,
    ratio: null,
  }
}

async function findPandasPython(): Promise<string | null> {
  // apt's python3-pandas lands under /usr/bin/python3, which need not be the python3 first on PATH.
  for (const python of ['python3', '/usr/bin/python3']) {
    const probe = await run(python, ['-c', 'import pandas, openpyxl']).catch(() => null)
    if (probe?.code === 0) return python
  }
  return null
}

interface ExportReport {
  rows: number
  psqlCopyCsv: {seconds: number; peakRssMb: number; bytes: number}
  aedbExportExcel: {seconds: number; peakRssMb: number; bytes: number}
}

/** export-excel (tables layout) of N movement_cycles rows against `psql \copy ... to` CSV (PostgreSQL only). */
export async function exportLines(rows: number, serverUrl: string): Promise<BenchResult[]> {
  await benchFile('export-excel.bench.ts', ['--rows', String(rows), '--server', serverUrl])
  const report = await readJson<ExportReport>('export-excel.json')
  const copy: BenchResult = {
    name: 'psql \\copy out (CSV)',
    backend: 'postgres',
    ...report.psqlCopyCsv,
    rows: report.rows,
    ratio: null,
  }
  return [
    {
      name: 'export-excel (tables layout)',
      backend: 'postgres',
      ...report.aedbExportExcel,
      rows: report.rows,
      ratio: ratioTo(report.aedbExportExcel.seconds, copy),
    },
    {
      ...skippedLine('export-excel (tables layout)', 'bench/export-excel.bench.ts seeds its rows with psql'),
      backend: 'pglite',
    },
    copy,
  ]
}

interface VerifyReport {
  count: number
  bytesPerFile: number
  statOnly: {aedbSeconds: number; findSeconds: number; aedbPeakRssMb: number}
  rehash: {aedbSeconds: number; sha256sumSeconds: number; opensslSeconds: number; aedbPeakRssMb: number}
}

/** verify (stat only, and --rehash) on both backends, against find, sha256sum and openssl over the same files. */
export async function verifyLines(count: number, serverUrl: string): Promise<BenchResult[]> {
  const lines: BenchResult[] = []
  let references: BenchResult[] = []
  for (const backend of ['postgres', 'pglite'] as const) {
    await benchFile('verify.bench.ts', [
      '--count',
      String(count),
      ...(backend === 'postgres' ? ['--server', serverUrl] : []),
    ])
    const report = await readJson<VerifyReport>(
      backend === 'postgres' ? 'verify-postgresql.json' : 'verify.json',
    )
    const bytes = report.count * report.bytesPerFile
    const ref = (name: string, seconds: number): BenchResult => ({
      name,
      backend: 'none',
      seconds,
      rows: report.count,
      bytes,
      peakRssMb: null,
      ratio: null,
    })
    const find = ref('find -printf (verify files)', report.statOnly.findSeconds)
    const openssl = ref('openssl dgst -sha256 (verify files)', report.rehash.opensslSeconds)
    const line = (name: string, seconds: number, peakRssMb: number, to: BenchResult): BenchResult => ({
      name,
      backend,
      seconds,
      rows: report.count,
      bytes,
      peakRssMb,
      ratio: ratioTo(seconds, to),
    })
    lines.push(
      line('verify (stat only)', report.statOnly.aedbSeconds, report.statOnly.aedbPeakRssMb, find),
      line('verify --rehash', report.rehash.aedbSeconds, report.rehash.aedbPeakRssMb, openssl),
    )
    references = [find, ref('sha256sum (verify files)', report.rehash.sha256sumSeconds), openssl]
  }
  return [...lines, ...references]
}
