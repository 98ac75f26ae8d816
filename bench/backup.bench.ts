/**
 * `aedb backup` / `aedb restore` against `pg_dump -Fc` / `pg_restore` of the same PostgreSQL database, measured in
 * one run, interleaved, as ratios of medians; plus the peak RSS of each process (GNU time's %M) at two database
 * sizes, to show whether memory stays flat as the database grows. No assertions on times.
 *
 *   npm run bench:backup                                   # 1,000 and 4,000 logs, 3 rounds each
 *   npm run bench:backup -- --sizes 1000 --repeats 5
 *   npm run bench:backup -- --prefix rs_bench                # scratch databases rs_bench_<N>, rs_bench_<N>_restored
 *   npm run bench:backup -- --build bench/out/before         # measure a saved build (a copy of build/) instead
 *
 * The database is filled by SQL with the shape of an import of the v4 sample logs (per maneuver log: its workbook
 * file and source_imports row, the log, audio processing with QC arrays, biomechanics, 2 synchronizations, 2 cycle
 * summaries, 11 movement cycles; per participant 2 knee logs and 6 knee-log maneuvers), through the real triggers,
 * so the audit log holds one row per row written, as after a real import.
 */
import {spawn} from 'node:child_process'
import {mkdir, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import pg from 'pg'
import {withDatabase} from '../src/db/connection.js'
import {parseDatabaseUrl} from '../src/db/database-url.js'
import {MIGRATIONS} from '../src/db/migrations.js'
import {migrateUp} from '../src/db/migrator.js'
import {buildCliInto} from './lib/build-cli.js'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
const OUT = path.join(REPO_ROOT, 'bench', 'out', 'backup')
const BUILD = path.join(OUT, 'build')
const PG_BIN = process.env.BENCH_PG_BIN ?? '/usr/lib/postgresql/15/bin'

interface Options {
  sizes: number[]
  repeats: number
  server: string
  /** Prefix of the scratch database names, so benchmarks run side by side on one server do not collide. */
  prefix: string
  /** An existing build to measure instead of building this checkout (e.g. a copy of an earlier run's build). */
  build: string | undefined
}

function options(): Options {
  const argv = process.argv.slice(2)
  const flag = (name: string) => {
    const i = argv.indexOf(`--${name}`)
    return i === -1 ? undefined : argv[i + 1]
  }
  return {
    sizes: (flag('sizes') ?? process.env.BENCH_SIZES ?? '1000,4000').split(',').map(Number),
    repeats: Number(flag('repeats') ?? process.env.BENCH_REPEATS ?? 3),
    server: flag('server') ?? process.env.BENCH_SERVER_URL ?? 'postgresql://postgres@127.0.0.1:5432',
    prefix: flag('prefix') ?? process.env.BENCH_DB_PREFIX ?? 'aedb_bench_backup',
    build: flag('build'),
  }
}

interface Sample {
  seconds: number
  rssMiB: number
}

/** Runs a command under GNU time; wall seconds and peak RSS of the process (its largest child for a wrapper). */
async function measure(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Sample> {
  const started = performance.now()
  const child = spawn('/usr/bin/time', ['-f', 'RSS_KB=%M', command, ...args], {
    cwd: REPO_ROOT,
    env: {...process.env, ...env},
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (c) => {
    stderr += c
  })
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)))
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr.slice(-3000)}`)
  const kb = Number(/RSS_KB=(\d+)/.exec(stderr)?.[1] ?? Number.NaN)
  return {seconds, rssMiB: kb / 1024}
}

async function admin(server: string, text: string): Promise<void> {
  const client = new pg.Client({connectionString: `${server}/postgres`})
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

const FILL = (logs: number) => `
insert into studies (id, name) values (gen_random_uuid(), 'AOA');
insert into import_roots (id, path) values (gen_random_uuid(), '/bench/corpus');
insert into participants (id, study_id, participant_number)
  select gen_random_uuid(), s.id, 5000 + g from studies s, generate_series(1, ceil(${logs} / 6.0)::int) g;
create temp table bench_logs as
  select row_number() over (order by p.participant_number, k, m) as n, p.id as participant_id, k, m
  from participants p, unnest(array['left', 'right']) k, unnest(array['walk', 'sts', 'fe']) m
  order by n limit ${logs};
insert into files (id, root_id, rel_path, kind, present, size_bytes, mtime, sha256)
  select gen_random_uuid(), r.id, 'log_' || n || '.xlsx', 'workbook', true, 180000 + n,
    timestamptz '2026-01-29 10:00:00.123456+00' + n * interval '1 second', encode(sha256(n::text::bytea), 'hex')
  from bench_logs, import_roots r;
insert into source_imports (id, file_id, importer, parser_version, sha256)
  select gen_random_uuid(), id, 'excel', '1', sha256 from files;
insert into processing_logs (id, participant_id, knee, maneuver, format_version, log_created, log_updated,
    audio_processed, num_synced_files, num_movement_cycles, content_hash, source_file_id, source_sheet, extra)
  select gen_random_uuid(), l.participant_id, l.k, l.m, 'v4', timestamp '2026-01-29 10:11:12.654321',
    timestamp '2026-01-30 08:00:00', true, 2, 11, encode(sha256(('log' || l.n)::bytea), 'hex'), f.id, 'Summary',
    jsonb_build_object('Notes', 'bench log ' || l.n, 'Operator', 'AE')
  from bench_logs l join files f on f.rel_path = 'log_' || l.n || '.xlsx';
insert into audio_processing (id, processing_log_id, audio_file, sample_rate_hz, channels, duration_s, ch1_rms,
    ch2_rms, ch3_rms, ch4_rms, qc_fail_segments, qc_artifact_segments_ch1, content_hash)
  select gen_random_uuid(), id, 'audio.bin', 46875, 4, 120.5 + random(), random(), random(), random(), random(),
    array[random(), random() + 1, 'NaN'::float8], array[random(), random()], content_hash from processing_logs;
insert into biomechanics_imports (id, processing_log_id, biomechanics_file, sheet_name, num_passes, duration_s, content_hash)
  select gen_random_uuid(), id, 'bio.xlsx', 'Walk', 3, 60 + random(), content_hash from processing_logs;
insert into synchronizations (id, processing_log_id, sync_file, pass_number, speed, audio_sync_time_s,
    bio_left_sync_time_s, sync_offset_s, consensus_time_s, duration_s, content_hash)
  select gen_random_uuid(), l.id, 'sync_' || s || '.pkl', s, 'slow', random() * 10, random() * 10, random(),
    random() * 10, 20 + random(), l.content_hash
  from processing_logs l, generate_series(1, 2) s;
insert into cycle_extraction_summaries (id, processing_log_id, synchronization_id, sync_file, pass_number,
    total_cycles, clean_cycles, outlier_cycles, mean_duration_s, content_hash)
  select gen_random_uuid(), processing_log_id, id, sync_file, pass_number, 6, 5, 1, 1.1 + random(), content_hash
  from synchronizations;
insert into movement_cycles (id, processing_log_id, synchronization_id, sync_file, cycle_index, is_outlier,
    start_s, end_s, duration_s, acoustic_auc, ch1_rms, ch2_rms, ch3_rms, ch4_rms, content_hash)
  select gen_random_uuid(), s.processing_log_id, s.id, s.sync_file, c, c = 0, c * 1.1, c * 1.1 + 1.05, 1.05,
    random(), random(), random(), random(), random(), s.content_hash
  from synchronizations s, generate_series(0, 5) c where not (s.pass_number = 2 and c = 5);
insert into knee_logs (id, participant_id, knee, format_version, total_maneuvers, content_hash)
  select gen_random_uuid(), p.id, k, 'v4', 3, encode(sha256((p.id::text || k)::bytea), 'hex')
  from participants p, unnest(array['left', 'right']) k;
insert into knee_log_maneuvers (id, knee_log_id, maneuver, audio_processed, num_movement_cycles, content_hash)
  select gen_random_uuid(), k.id, m, true, 11, k.content_hash from knee_logs k, unnest(array['walk', 'sts', 'fe']) m;
analyze;
`

async function createFilledDatabase(opts: Options, logs: number): Promise<{name: string; rows: number}> {
  const name = `${opts.prefix}_${logs}`
  await admin(opts.server, `drop database if exists ${name} with (force)`)
  await admin(opts.server, `create database ${name}`)
  const url = `${opts.server}/${name}`
  await withDatabase(parseDatabaseUrl(url, '--database-url'), ({db}) =>
    migrateUp({db, migrations: MIGRATIONS}),
  )
  const client = new pg.Client({connectionString: url})
  await client.connect()
  try {
    await client.query(FILL(logs))
    const {rows} = await client.query(
      `select sum(n_live_tup)::int as rows from pg_stat_user_tables where relname <> 'aedb_migrations'`,
    )
    return {name, rows: rows[0].rows}
  } finally {
    await client.end()
  }
}

/** The CLI as `npm run build` makes it, into bench/out/backup/build/dist. */
async function buildCli(): Promise<void> {
  await buildCliInto(BUILD)
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

interface SizeResult {
  logs: number
  rows: number
  bytes: {aedb: number; pgDump: number}
  samples: Record<'aedbStartup' | 'aedbBackup' | 'pgDump' | 'aedbRestore' | 'pgRestore', Sample[]>
}

async function benchSize(opts: Options, logs: number): Promise<SizeResult> {
  const {name, rows} = await createFilledDatabase(opts, logs)
  const source = `${opts.server}/${name}`
  const aedbFile = path.join(OUT, `${name}.aedb.gz`)
  const dumpFile = path.join(OUT, `${name}.dump`)
  const target = `${name}_restored`
  const cli = path.join(REPO_ROOT, 'bench', 'run-built-cli.mjs')
  const env = {
    AEDB_BENCH_COMMANDS: path.join(path.resolve(REPO_ROOT, opts.build ?? BUILD), 'dist', 'src', 'commands'),
  }
  const samples: SizeResult['samples'] = {
    aedbStartup: [],
    aedbBackup: [],
    pgDump: [],
    aedbRestore: [],
    pgRestore: [],
  }
  const fresh = async () => {
    await admin(opts.server, `drop database if exists ${target} with (force)`)
    await admin(opts.server, `create database ${target}`)
    await admin(opts.server, 'checkpoint')
  }
  for (let round = 0; round < opts.repeats; round++) {
    process.stderr.write(`[bench] ${logs} logs, round ${round + 1}/${opts.repeats}\n`)
    // Node + oclif + loading the backup command's modules: the fixed cost in every aedb figure.
    samples.aedbStartup.push(await measure(process.execPath, [cli, 'backup', '--help'], env))
    samples.aedbBackup.push(
      await measure(
        process.execPath,
        [cli, 'backup', aedbFile, '--force', '--quiet', '--database-url', source],
        env,
      ),
    )
    samples.pgDump.push(await measure(path.join(PG_BIN, 'pg_dump'), ['-Fc', '-f', dumpFile, '-d', source]))
    await fresh()
    samples.aedbRestore.push(
      await measure(
        process.execPath,
        [cli, 'restore', aedbFile, '--quiet', '--database-url', `${opts.server}/${target}`],
        env,
      ),
    )
    await fresh()
    samples.pgRestore.push(
      await measure(path.join(PG_BIN, 'pg_restore'), ['-d', `${opts.server}/${target}`, dumpFile]),
    )
  }
  const bytes = {aedb: (await stat(aedbFile)).size, pgDump: (await stat(dumpFile)).size}
  await admin(opts.server, `drop database if exists ${target} with (force)`)
  await admin(opts.server, `drop database if exists ${name} with (force)`)
  return {logs, rows, bytes, samples}
}

function report(results: SizeResult[]): string {
  const lines = [
    '| logs | rows | aedb start-up s | aedb backup s | pg_dump -Fc s | ratio | aedb restore s | pg_restore s | ratio | RSS MiB backup / restore (aedb) | RSS MiB pg_dump / pg_restore | file MiB aedb / pg_dump |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const r of results) {
    const m = (k: keyof SizeResult['samples'], f: keyof Sample) => median(r.samples[k].map((s) => s[f]))
    lines.push(
      `| ${r.logs} | ${r.rows} | ${m('aedbStartup', 'seconds').toFixed(2)} | ${m('aedbBackup', 'seconds').toFixed(2)} | ${m('pgDump', 'seconds').toFixed(2)} | ${(m('aedbBackup', 'seconds') / m('pgDump', 'seconds')).toFixed(2)}x | ${m('aedbRestore', 'seconds').toFixed(2)} | ${m('pgRestore', 'seconds').toFixed(2)} | ${(m('aedbRestore', 'seconds') / m('pgRestore', 'seconds')).toFixed(2)}x | ${m('aedbBackup', 'rssMiB').toFixed(0)} / ${m('aedbRestore', 'rssMiB').toFixed(0)} | ${m('pgDump', 'rssMiB').toFixed(0)} / ${m('pgRestore', 'rssMiB').toFixed(0)} | ${(r.bytes.aedb / 1048576).toFixed(2)} / ${(r.bytes.pgDump / 1048576).toFixed(2)} |`,
    )
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  const opts = options()
  await mkdir(OUT, {recursive: true})
  if (opts.build === undefined) {
    process.stderr.write('[bench] building the CLI into bench/out/backup/build\n')
    await buildCli()
  }
  const results: SizeResult[] = []
  for (const logs of opts.sizes) results.push(await benchSize(opts, logs))
  const table = report(results)
  process.stdout.write(`${table}\n`)
  await writeFile(path.join(OUT, 'backup.json'), `${JSON.stringify({options: opts, results}, null, 2)}\n`)
}

await main()
