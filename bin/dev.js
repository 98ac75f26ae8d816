#!/usr/bin/env -S node --import tsx
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {execute} from '@oclif/core'

// This process already runs under tsx. oclif's own dist/ -> src/ mapping tries to register tsx a second time,
// which fails with tsx 4.23 and silently falls back to a stale (or missing) dist/; point it at the sources.
const root = fileURLToPath(new URL('..', import.meta.url))
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
pjson.oclif.commands = './src/commands'
for (const [event, file] of Object.entries(pjson.oclif.hooks ?? {}))
  pjson.oclif.hooks[event] = file.replace('./dist/src/', './src/')
await execute({development: true, loadOptions: {root, pjson}})
