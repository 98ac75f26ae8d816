import {rm, stat} from 'node:fs/promises'
import path from 'node:path'
import {BENCH_OUT, REPO_ROOT} from '../generate-corpus.js'
import {log, run} from './processes.js'

export const BUILD_DIR = path.join(BENCH_OUT, 'build')
export const CLI = path.join(REPO_ROOT, 'bench', 'run-built-cli.mjs')

/**
 * tsc of src/ into bench/out/build/dist (the shared dist/ is never touched). With `reuse` (the umbrella `npm run
 * bench` builds once for all its steps), an existing build is kept.
 */
export async function buildCli(reuse = false): Promise<{seconds: number; typeErrors: boolean}> {
  const entry = path.join(BUILD_DIR, 'dist', 'src', 'commands', 'backfill-excel.js')
  if (reuse && (await stat(entry).catch(() => null))) return {seconds: 0, typeErrors: false}
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
  await stat(entry)
  // The oclif manifest, as `npm run build` writes it: the CLI then loads only the command it runs.
  await run(process.execPath, [
    path.join(REPO_ROOT, 'scripts', 'write-oclif-manifest.mjs'),
    path.join(BUILD_DIR, 'dist'),
  ])
  return {seconds: result.seconds, typeErrors: result.code !== 0}
}
