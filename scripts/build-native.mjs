#!/usr/bin/env node
// Builds the native batch stat (native/stat_many.c → build/Release/aedb_stat.node) with node-gyp: npm's own copy,
// which npm names in npm_config_node_gyp while it runs a package's scripts, else a node-gyp on the PATH. Run by
// `npm ci` / `npm install` (the package's install script) and by `npm run build:native`.
// It never fails the install: without a C compiler, Python or Node's headers, aedb still works and `verify` stats
// files with Node's statSync (the same results, ~1.5x the CPU per file); this prints why and how to get the build.
import {spawnSync} from 'node:child_process'
import {existsSync, rmSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export function buildNative({quiet = false} = {}) {
  if (process.env.AEDB_NATIVE_STAT === '0') return {built: false, reason: 'AEDB_NATIVE_STAT=0'}
  // stat() takes paths in the ANSI code page on Windows: there verify uses Node's statSync.
  if (process.platform === 'win32') return {built: false, reason: 'not built on Windows'}
  const gyp = process.env.npm_config_node_gyp
  const [command, args] =
    gyp && existsSync(gyp) ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']]
  // node-gyp fetches Node's headers when it has none: an offline machine must not hang the install.
  const run = spawnSync(command, args, {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: quiet ? 'pipe' : 'inherit',
    timeout: 5 * 60 * 1000,
  })
  if (run.status === 0 && existsSync(path.join(ROOT, 'build', 'Release', 'aedb_stat.node')))
    return {built: true}
  // A half-made build must not be mistaken for a built one (node-gyp that could not start changed nothing).
  if (!run.error) rmSync(path.join(ROOT, 'build', 'Release', 'aedb_stat.node'), {force: true})
  const reason = run.error ? String(run.error.message) : `node-gyp exited with ${run.status}`
  // node-gyp's last lines say what failed; the rest of its log is for `npm run build:native`.
  const output = quiet
    ? String(run.stderr ?? '')
        .trim()
        .split('\n')
        .slice(-4)
        .join('\n')
    : ''
  return {built: false, reason: output ? `${reason}:\n${output}` : reason}
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = buildNative({quiet: true})
  if (result.built) console.log('aedb: built the native file stat (build/Release/aedb_stat.node)')
  else if (process.env.AEDB_NATIVE_STAT === '0')
    console.log('aedb: AEDB_NATIVE_STAT=0: the native file stat not built')
  else {
    console.warn(
      `aedb: the native file stat was not built (${result.reason}). aedb works without it; verify then stats files with Node's statSync, about 1.5x slower. To build it: install a C compiler, make and Python 3, then run npm run build:native (npm supplies node-gyp).`,
    )
  }
}
