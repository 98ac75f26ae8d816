import {stat} from 'node:fs/promises'
import path from 'node:path'
import {BENCH_OUT, REPO_ROOT} from '../generate-corpus.js'
import {log, run} from './processes.js'

export const BUILD_DIR = path.join(BENCH_OUT, 'build')
export const CLI = path.join(REPO_ROOT, 'bench', 'run-built-cli.mjs')

/**
 * The CLI as `npm run build` makes it (scripts/build-cli.mjs: tsc, each command bundled into one file, the oclif
 * manifest), into bench/out/build/dist (the shared dist/ is never touched). With `reuse` (the umbrella `npm run
 * bench` builds once for all its steps), an existing build is kept.
 */
export async function buildCli(reuse = false): Promise<{seconds: number; typeErrors: boolean}> {
  return buildCliInto(BUILD_DIR, reuse)
}

/** The same into DIR/dist, for a bench that keeps its own build. */
export async function buildCliInto(
  dir: string,
  reuse = false,
): Promise<{seconds: number; typeErrors: boolean}> {
  const entry = path.join(dir, 'dist', 'src', 'commands', 'backfill-excel.js')
  if (reuse && (await stat(entry).catch(() => null))) return {seconds: 0, typeErrors: false}
  const script = path.join(REPO_ROOT, 'scripts', 'build-cli.mjs')
  // The build is still made when the working tree has type errors elsewhere; say so rather than stop.
  const result = await run(process.execPath, [script, path.join(dir, 'dist'), '--allow-type-errors'])
  if (result.code !== 0) throw new Error(`building the CLI failed:\n${result.stderr.slice(-3000)}`)
  const typeErrors = result.stderr.includes('tsc reported errors')
  if (typeErrors) log(result.stderr.slice(0, 2000))
  await stat(entry)
  return {seconds: result.seconds, typeErrors}
}
