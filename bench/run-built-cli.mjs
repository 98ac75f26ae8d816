#!/usr/bin/env node
// The aedb CLI from a benchmark's private build (default bench/out/build/dist, compiled by the bench with
// `tsc -p tsconfig.build.json --outDir <build>/dist`; AEDB_BENCH_COMMANDS names another build's src/commands), so
// the benchmark never rebuilds or deletes the shared dist/ that other work in this checkout may be using. Same
// start-up as bin/run.js: the build's folder is oclif's root and holds the oclif manifest (written here on first
// use, as `npm run build` does), so only the command that runs is loaded.
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {execute} from '@oclif/core'
import '../bin/define-navigator.js'
import {writeOclifManifest} from '../scripts/write-oclif-manifest.mjs'

const repoRoot = fileURLToPath(new URL('..', import.meta.url))
const commands = process.env.AEDB_BENCH_COMMANDS ?? './bench/out/build/dist/src/commands'
const root = path.resolve(repoRoot, commands, '..', '..')
if (!existsSync(path.join(root, 'oclif.manifest.json'))) await writeOclifManifest(root)
const pjson = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'))
pjson.oclif.commands = './src/commands'
await execute({loadOptions: {root, pjson}})
