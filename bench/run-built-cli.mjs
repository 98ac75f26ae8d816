#!/usr/bin/env node
// The aedb CLI from a benchmark's private build (default bench/out/build/dist, built by the bench with
// scripts/build-cli.mjs; AEDB_BENCH_COMMANDS names another build's src/commands), so the benchmark never rebuilds
// or deletes the shared dist/ that other work in this checkout may be using. Same start-up as bin/run.js: the
// build's folder is oclif's root and holds the oclif manifest (written here on first use, as `npm run build` does),
// so only the command that runs is loaded, and oclif is the build's bundled copy (dist/oclif-core.js, which its
// commands import) or, in a build made before there was one, node_modules'.
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import '../bin/define-navigator.js'

const repoRoot = fileURLToPath(new URL('..', import.meta.url))
const commands = process.env.AEDB_BENCH_COMMANDS ?? './bench/out/build/dist/src/commands'
const root = path.resolve(repoRoot, commands, '..', '..')
if (!existsSync(path.join(root, 'oclif.manifest.json'))) {
  const {writeOclifManifest} = await import('../scripts/write-oclif-manifest.mjs')
  await writeOclifManifest(root)
}
const oclifCore = path.join(root, 'oclif-core.js')
const {execute} = await import(existsSync(oclifCore) ? pathToFileURL(oclifCore).href : '@oclif/core')
const pjson = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'))
pjson.oclif.commands = './src/commands'
for (const [event, file] of Object.entries(pjson.oclif.hooks ?? {}))
  pjson.oclif.hooks[event] = file.replace('./dist/src/', './src/')
await execute({loadOptions: {root, pjson}})
