/**
 * `aedb export-excel` of N movement-cycle rows on PostgreSQL (tables layout, one sheet), against `psql \copy` of
 * the same rows and columns to CSV, measured in the same run. `npm run bench:export` (see bench/README.md):
 *
 *   --rows N      BENCH_ROWS        movement_cycles rows (default 1,000,000), generated with generate_series
 *   --logs N      BENCH_LOGS        processing logs they belong to (default 1,000; at most 100,000 rows a log)
 *   --server URL  BENCH_SERVER_URL  PostgreSQL server (default postgresql://postgres@127.0.0.1:5432)
 *   --keep        BENCH_KEEP=1      keep the benchmark database and the written files
 *
 * The CLI runs as a child process on a private build (bench/out/build-export/dist, made as `npm run build` makes dist/) under /usr/bin/time, which
 * reports its peak RSS; psql runs the same way. Prints a table, writes bench/out/export-excel.json. No assertions.
 */
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdir, rm, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {buildCliInto} from './lib/build-cli.js'

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const OUT = path.join(REPO_ROOT, 'bench', 'out')
const BUILD = path.join(OUT, 'build-export', 'dist')

interface Measured {
  seconds: number
  /** User plus system CPU seconds of the process (the server's work is not in it). */
  cpuSeconds: number
  peakRssMb: number
  bytes: number
}

function option(name: string, variable: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? (process.argv[i + 1] ?? '1') : process.env[variable]
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {cwd: REPO_ROOT, env: {...process.env, ...env}})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code: code ?? 1, stdout, stderr}))
  })
}

/** Runs a command under /usr/bin/time: wall seconds and peak RSS of the process. */
async function measure(
  command: string,
  args: string[],
  output: string,
  env: NodeJS.ProcessEnv = {},
): Promise<Measured> {
  const result = await run('/usr/bin/time', ['-f', 'AEDB_BENCH %e %M %U %S', command, ...args], env)
  const line = result.stderr.split('\n').find((l) => l.startsWith('AEDB_BENCH '))
  if (result.code !== 0 || !line)
    throw new Error(`${command} failed (${result.code}):\n${result.stderr.slice(-3000)}`)
  const [, seconds, kb, user, system] = line.split(' ')
  return {
    seconds: Number(seconds),
    cpuSeconds: Number(user) + Number(system),
    peakRssMb: Number(kb) / 1024,
    bytes: (await stat(output)).size,
  }
}

async function psql(url: string, command: string): Promise<string> {
  const result = await run('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', command])
  if (result.code !== 0) throw new Error(`psql failed: ${result.stderr}`)
  return result.stdout.trim()
}

/**
 * One study, then `logs` processing logs (six a participant: two knees, three maneuvers, as an import makes them)
 * of `rows / logs` cycles each, in one `insert … select generate_series` (unique keys by i). A log of a real tree
 * holds at most 100,000 cycles (one sheet), so the default is 1,000 logs of 1,000.
 */
function seedSql(rows: number, logs: number): string {
  const perLog = Math.ceil(rows / logs)
  return `
insert into studies (id, name) values ('00000000-0000-5000-8000-000000000001', 'AOA');
insert into participants (id, study_id, participant_number)
  select ('00000000-0000-5000-8001-' || lpad(n::text, 12, '0'))::uuid, '00000000-0000-5000-8000-000000000001', 1000 + n
  from generate_series(0, ${Math.ceil(logs / 6) - 1}) as n;
insert into processing_logs (id, participant_id, knee, maneuver, format_version, content_hash)
  select ('00000000-0000-5000-8002-' || lpad(g::text, 12, '0'))::uuid,
    ('00000000-0000-5000-8001-' || lpad((g / 6)::text, 12, '0'))::uuid,
    (array['left', 'right'])[g % 2 + 1], (array['walk', 'sts', 'fe'])[g / 2 % 3 + 1], 'v4', repeat('0', 64)
  from generate_series(0, ${logs - 1}) as g;
insert into movement_cycles (id, processing_log_id, sync_file, cycle_index, is_outlier, cycle_file, start_s, end_s,
  duration_s, acoustic_auc, ch1_rms, ch2_rms, ch3_rms, ch4_rms, audio_start_time, audio_end_time, biomechanics_qc_fail,
  sync_qc_fail, biomechanics_qc_version, sync_qc_version, source_sheet, source_row, content_hash, extra)
select gen_random_uuid(), ('00000000-0000-5000-8002-' || lpad(((i - 1) / ${perLog})::text, 12, '0'))::uuid,
  'Left_walk_pass' || (i / 1000), i % 1000, i % 7 = 0,
  'Left_walk_pass' || (i / 1000) || '_cycle_' || lpad((i % 1000)::text, 3, '0') || '.pkl',
  i * 1.25, i * 1.25 + 1.1, 1.1 + (i % 13) / 100.0, random() * 100, random(), random(), random(), random(),
  timestamp '2026-01-29 01:46:30.190255' + i * interval '1250 milliseconds',
  timestamp '2026-01-29 01:46:31.290255' + i * interval '1250 milliseconds', i % 11 = 0, false, 1, 1,
  'Movement Cycles', (i - 1) % ${perLog} + 2, md5(i::text) || md5((i + 1)::text),
  jsonb_build_object('Study', 'AOA', 'Speed', 'medium', 'Pass Number', i / 1000)
from generate_series(1, ${rows}) as i;
analyze;`
}

/** The columns the export writes, as text for CSV, in the exporter's order (what \\copy is compared against). */
const COPY_QUERY = `select c.*, c.extra->'Pass Number' as "Pass Number", c.extra->'Speed' as "Speed", c.extra->'Study' as "Study"
  from movement_cycles c join processing_logs l on l.id = c.processing_log_id
  join participants p on p.id = l.participant_id join studies s on s.id = p.study_id
  order by s.name, p.participant_number, l.knee, l.maneuver, c.source_sheet, c.source_row, c.id`

async function main(): Promise<void> {
  const rows = Number(option('rows', 'BENCH_ROWS') ?? 1_000_000)
  const logs = Number(option('logs', 'BENCH_LOGS') ?? 1_000)
  const server = option('server', 'BENCH_SERVER_URL') ?? 'postgresql://postgres@127.0.0.1:5432'
  const keep = option('keep', 'BENCH_KEEP') !== undefined
  const name = `aedb_bench_export_${randomBytes(4).toString('hex')}`
  const url = `${server}/${name}`
  const work = path.join(OUT, 'export-excel')
  await rm(work, {recursive: true, force: true})
  await mkdir(work, {recursive: true})
  console.error(`building the CLI into ${path.relative(REPO_ROOT, BUILD)}`)
  await buildCliInto(path.dirname(BUILD))
  const cliEnv = {AEDB_BENCH_COMMANDS: './bench/out/build-export/dist/src/commands'}
  const cli = path.join(REPO_ROOT, 'bench', 'run-built-cli.mjs')
  await psql(`${server}/postgres`, `create database ${name}`)
  try {
    const init = await run(process.execPath, [cli, 'init', '--database-url', url, '--quiet'], cliEnv)
    if (init.code !== 0) throw new Error(`aedb init failed: ${init.stderr}`)
    console.error(
      `seeding ${rows.toLocaleString('en')} movement_cycles rows in ${logs.toLocaleString('en')} logs`,
    )
    const seedStart = Date.now()
    await psql(url, seedSql(rows, logs))
    const seedSeconds = (Date.now() - seedStart) / 1000
    console.error('psql \\copy to CSV')
    const csv = path.join(work, 'cycles.csv')
    const copy = await measure(
      'psql',
      [url, '-qAt', '-c', `\\copy (${COPY_QUERY.replaceAll('\n', ' ')}) to '${csv}' csv header`],
      csv,
    )
    console.error('aedb export-excel')
    const xlsx = path.join(work, 'cycles.xlsx')
    const aedb = await measure(
      process.execPath,
      [cli, 'export-excel', xlsx, '--tables', 'movement_cycles', '--database-url', url, '--quiet'],
      xlsx,
      cliEnv,
    )
    const report = {
      when: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        loadavg: os.loadavg(),
        node: process.version,
      },
      rows,
      logs,
      seedSeconds,
      psqlCopyCsv: {...copy, rowsPerSecond: rows / copy.seconds},
      aedbExportExcel: {...aedb, rowsPerSecond: rows / aedb.seconds},
      ratios: {timeVsPsql: aedb.seconds / copy.seconds, rssVsPsql: aedb.peakRssMb / copy.peakRssMb},
      targets: {rowsPerSecond: 50_000, peakRssMb: 500},
    }
    await writeFile(path.join(OUT, 'export-excel.json'), `${JSON.stringify(report, null, 2)}\n`)
    const line = (label: string, m: Measured) =>
      `| ${label.padEnd(28)} | ${m.seconds.toFixed(1).padStart(7)} | ${Math.round(rows / m.seconds)
        .toLocaleString('en')
        .padStart(
          9,
        )} | ${m.cpuSeconds.toFixed(1).padStart(6)} | ${m.peakRssMb.toFixed(0).padStart(6)} | ${(m.bytes / 1048576).toFixed(1).padStart(8)} |`
    console.log(
      `${rows.toLocaleString('en')} movement_cycles rows in ${logs.toLocaleString('en')} logs, PostgreSQL, load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    )
    console.log('| what                         |  wall s |    rows/s |  CPU s | RSS MB | file MiB |')
    console.log('| ---------------------------- | ------: | --------: | -----: | -----: | -------: |')
    console.log(line('psql \\copy to CSV (1.00)', copy))
    console.log(line('aedb export-excel (tables)', aedb))
    console.log(
      `ratio: ${report.ratios.timeVsPsql.toFixed(2)}x the time of psql, ${report.ratios.rssVsPsql.toFixed(1)}x its peak RSS`,
    )
    console.log(
      `targets (issue 8): ${Math.round(report.aedbExportExcel.rowsPerSecond).toLocaleString('en')} rows/s against 50,000 (${
        report.aedbExportExcel.rowsPerSecond >= 50_000 ? 'met' : 'not met'
      }), peak RSS ${aedb.peakRssMb.toFixed(0)} MB against 500 (${aedb.peakRssMb < 500 ? 'met' : 'not met'})`,
    )
  } finally {
    if (!keep) {
      await psql(`${server}/postgres`, `drop database if exists ${name} with (force)`)
      await rm(work, {recursive: true, force: true})
    }
  }
}

await main()
