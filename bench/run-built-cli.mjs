#!/usr/bin/env node
// The aedb CLI from the benchmark's private build (bench/out/build/dist, compiled by backfill-excel.bench.ts with
// `tsc -p tsconfig.build.json --outDir bench/out/build/dist`), so the benchmark never rebuilds or deletes the
// shared dist/ that other work in this checkout may be using. Same oclif entry point as bin/run.js.
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {execute} from '@oclif/core'

const root = fileURLToPath(new URL('..', import.meta.url))
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
pjson.oclif.commands = process.env.AEDB_BENCH_COMMANDS ?? './bench/out/build/dist/src/commands'
await execute({loadOptions: {root, pjson}})
