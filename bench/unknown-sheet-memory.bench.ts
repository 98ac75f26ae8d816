/**
 * Peak memory (max RSS) of `aedb backfill-excel` on two v4 participants where one maneuver log carries an unknown
 * 1,000,000-row sheet (issue 9 item 13), against the same tree without that sheet, measured in the same run.
 * `node --import tsx bench/unknown-sheet-memory.bench.ts [rows]` (default 1000000). The CLI runs as a child
 * (`bin/dev.js`) under `/usr/bin/time -v`; PostgreSQL is used when BENCH_SERVER_URL (default
 * postgresql://postgres@127.0.0.1:5432) answers, PGlite always. No assertions.
 */
import {execFile} from 'node:child_process'
import {cp, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'
import {addGeneratedSheet} from './add-generated-sheet.js'

const run = promisify(execFile)
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')
const ROWS = Number(process.argv[2] ?? 1_000_000)
const SERVER = process.env.BENCH_SERVER_URL ?? 'postgresql://postgres@127.0.0.1:5432'

async function cli(args: string[]): Promise<{maxRssMb: number; exitCode: number; seconds: number}> {
  const argv = ['-v', process.execPath, '--import', 'tsx', path.join(REPO, 'bin', 'dev.js'), ...args]
  const started = Date.now()
  const result = await run('/usr/bin/time', argv, {cwd: REPO, maxBuffer: 1 << 26}).then(
    (r) => ({...r, code: 0}),
    (e: {stdout: string; stderr: string; code: number}) => ({
      stdout: e.stdout,
      stderr: e.stderr,
      code: e.code,
    }),
  )
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)?.[1] ?? Number.NaN)
  return {maxRssMb: Math.round(kb / 1024), exitCode: result.code, seconds: (Date.now() - started) / 1000}
}

async function tree(withHugeSheet: boolean): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'aedb-bench-mem-'))
  for (const p of ['1019', '1021'])
    await cp(path.join(REPO, 'fixtures', 'knee-ae', 'v4-2026-01-29', `#${p}`), path.join(root, `#${p}`), {
      recursive: true,
    })
  if (withHugeSheet)
    await addGeneratedSheet(
      path.join(root, '#1021', 'Left Knee', 'Walking', 'processing_log_1021_Left_walk.xlsx'),
      'Raw Dump',
      ROWS,
    )
  return root
}

async function databases(): Promise<Array<{name: string; url: string; drop: () => Promise<void>}>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'aedb-bench-mem-db-'))
  const out = [{name: 'pglite', url: `pglite:${dir}/db`, drop: () => rm(dir, {recursive: true, force: true})}]
  const name = `aedb_bench_mem_${process.pid}`
  const url = `${SERVER}/${name}`
  const probe = await cli(['init', '--database-url', url, '--quiet'])
  if (probe.exitCode === 0)
    out.push({
      name: 'postgres',
      url,
      drop: async () =>
        void (await run('psql', [`${SERVER}/postgres`, '-c', `drop database ${name} with (force)`]).catch(
          () => {},
        )),
    })
  return out
}

const rows: string[][] = []
for (const db of await databases()) {
  await cli(['init', '--database-url', db.url, '--quiet'])
  for (const huge of [false, true]) {
    const root = await tree(huge)
    const measured = await cli(['backfill-excel', root, '--database-url', db.url, '--json', '--quiet'])
    rows.push([
      db.name,
      huge ? `with a ${ROWS.toLocaleString('en')}-row unknown sheet` : 'without',
      String(measured.maxRssMb),
      String(measured.exitCode),
      measured.seconds.toFixed(1),
    ])
    await rm(root, {recursive: true, force: true})
    // A fresh database for the second tree would be fairer; the same one keeps 1019 unchanged, which is the point.
  }
  await db.drop()
}
console.log(['backend', 'tree', 'max RSS MB', 'exit', 'seconds'].join('\t'))
for (const r of rows) console.log(r.join('\t'))
