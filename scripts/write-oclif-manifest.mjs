#!/usr/bin/env node
// Writes DIST/oclif.manifest.json (default dist/): every command's id, flags, args and help, so that the built CLI
// loads only the command it runs instead of importing all of them (and their libraries) on every start.
// `npm run build` calls it after tsc; bin/run.js uses DIST as the plugin root, so the manifest never goes stale
// next to the sources (bin/dev.js, run by the tests, keeps reading src/commands without one).
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {Plugin} from '@oclif/core'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Builds the manifest from DIST/src/commands and writes it into DIST; returns the number of commands. */
export async function writeOclifManifest(distDir) {
  const root = path.resolve(distDir)
  const pjson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'))
  pjson.oclif.commands = './src/commands'
  const plugin = new Plugin({root, pjson, isRoot: true, ignoreManifest: true, errorOnManifestCreate: true})
  await plugin.load()
  writeFileSync(path.join(root, 'oclif.manifest.json'), `${JSON.stringify(plugin.manifest)}\n`)
  return Object.keys(plugin.manifest.commands).length
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const distDir = process.argv[2] ?? path.join(REPO_ROOT, 'dist')
  const count = await writeOclifManifest(distDir)
  console.log(
    `oclif manifest: ${count} commands -> ${path.relative(process.cwd(), path.join(distDir, 'oclif.manifest.json'))}`,
  )
}
