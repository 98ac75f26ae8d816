/** Child processes for the benchmarks: wall time, CPU (from /proc) and peak RSS (from /usr/bin/time). */
import {type SpawnOptions, spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {REPO_ROOT} from '../generate-corpus.js'

export const CLK_TCK = 100

/** utime + stime (+ cutime + cstime: children that were waited for) of a process, in seconds. */
export async function processCpu(pid: number | 'self', withChildren: boolean): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
  const at = (field: number) => Number(fields[field - 3])
  return (at(14) + at(15) + (withChildren ? at(16) + at(17) : 0)) / CLK_TCK
}

export interface Ran {
  code: number
  stdout: string
  stderr: string
  seconds: number
  /** CPU seconds of the child process (and its children), from this process's cutime/cstime. */
  cpuSeconds: number
  /** Peak resident set of the child (its largest process), from /usr/bin/time; null without it. */
  peakRssMb: number | null
}

const TIME = '/usr/bin/time'
const HAS_TIME = existsSync(TIME)

export async function run(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<Ran> {
  const cpuBefore = await processCpu('self', true).catch(() => Number.NaN)
  const selfBefore = await processCpu('self', false).catch(() => Number.NaN)
  const rssDir = HAS_TIME ? await mkdtemp(path.join(os.tmpdir(), 'aedb-bench-rss-')) : null
  const rssFile = rssDir ? path.join(rssDir, 'maxrss') : null
  const [file, argv] = rssFile ? [TIME, ['-f', '%M', '-o', rssFile, command, ...args]] : [command, [...args]]
  const started = performance.now()
  const child = spawn(file, argv, {cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options})
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
  const peakRssMb = rssFile ? await readPeakRss(rssFile) : null
  if (rssDir) await rm(rssDir, {recursive: true, force: true})
  return {
    code,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    seconds,
    cpuSeconds: cpuAfter - cpuBefore - (selfAfter - selfBefore),
    peakRssMb,
  }
}

/** /usr/bin/time -f %M writes the peak RSS in KiB as its last line (after "Command exited ..." when it failed). */
async function readPeakRss(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => '')
  const kib = Number(text.trim().split('\n').at(-1))
  return Number.isFinite(kib) && kib > 0 ? kib / 1024 : null
}

export async function mustRun(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<Ran> {
  const result = await run(command, args, options)
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}\n${result.stderr.slice(-4000)}`)
  }
  return result
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}
