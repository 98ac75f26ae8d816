#!/usr/bin/env node
// The built CLI in DIST (default dist/): tsc of src/ and migrations/, each command bundled into one file
// (scripts/bundle-commands.mjs), and the oclif manifest (scripts/write-oclif-manifest.mjs), so a command starts by
// loading one file. `npm run build` runs it; so do the benches (into their own folders) and the built-CLI test.
// Exits non-zero when tsc reports errors (with `--allow-type-errors`, tsc's output is still bundled).
import {execFile} from 'node:child_process'
import {rm} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {bundleCommands} from './bundle-commands.mjs'
import {writeOclifManifest} from './write-oclif-manifest.mjs'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))

/**
 * Builds into DIST (emptied first); returns tsc's output when it reported errors and they are allowed, and how many
 * files were bundled and commands listed.
 */
export async function buildCli(distDir, {allowTypeErrors = false} = {}) {
  const dist = path.resolve(distDir)
  await rm(dist, {recursive: true, force: true})
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  let typeErrors = ''
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', dist], {
      cwd: REPO_ROOT,
    })
  } catch (error) {
    // tsc still emits when it finds type errors.
    if (!allowTypeErrors) throw new Error(`tsc failed:\n${error.stdout ?? ''}${error.stderr ?? error}`)
    typeErrors = String(error.stdout ?? error)
  }
  const bundles = await bundleCommands(dist)
  const commands = await writeOclifManifest(dist)
  return {typeErrors, bundles, commands}
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const dist = args.find((a) => !a.startsWith('--')) ?? path.join(REPO_ROOT, 'dist')
  const built = await buildCli(dist, {allowTypeErrors: args.includes('--allow-type-errors')})
  if (built.typeErrors)
    console.error(`tsc reported errors (the build was still made):\n${built.typeErrors.slice(0, 4000)}`)
  console.log(
    `built ${path.relative(process.cwd(), dist) || '.'}: ${built.bundles} bundles, ${built.commands} commands`,
  )
}
