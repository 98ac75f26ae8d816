#!/usr/bin/env node
// The built CLI: oclif with dist/ as its root, so it finds dist/oclif.manifest.json (written by `npm run build`)
// and loads only the command it runs. Without the manifest it still works, importing every command to list them.
// oclif comes from dist/oclif-core.js, the one bundled copy the commands import too (scripts/bundle-commands.mjs).
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {execute} from '../dist/oclif-core.js'
import './define-navigator.js'

const root = fileURLToPath(new URL('../dist/', import.meta.url))
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
pjson.oclif.commands = './src/commands'
for (const [event, file] of Object.entries(pjson.oclif.hooks ?? {}))
  pjson.oclif.hooks[event] = file.replace('./dist/src/', './src/')
await execute({loadOptions: {root, pjson}})
