#!/usr/bin/env node
// Bundles each command (and each worker and hook) of a tsc build in DIST into one file in place, so that starting
// a command compiles one module instead of resolving, reading and compiling a few hundred (kysely, pg, zod, yaml,
// fast-glob and aedb's own modules): `aedb verify` on a server started in 0.84 s and starts in about 0.6 s.
// Libraries that are large and loaded only when needed (PGlite, exceljs, jszip, music-metadata) stay imports of
// node_modules. oclif, whose classes the commands extend, is bundled once into DIST/oclif-core.js, which bin/run.js
// and every command and hook import, so the CLI starts one oclif instance from one file instead of about 160
// CommonJS modules (the help, version and autocomplete plugins still load node_modules' copy when they run).
// Part of `npm run build` (scripts/build-cli.mjs); the tests run src/ through bin/dev.js and never see a bundle.
import {mkdtemp, readdir, readFile, rename, rm} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import * as oclifCore from '@oclif/core'
import {build} from 'esbuild'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))

/** @oclif/core as one ESM file at the root of DIST, the only copy of it the built CLI's own code loads. */
const OCLIF_CORE_BUNDLE = 'oclif-core.js'

/** What both kinds of bundle share: one ESM file for Node 20, libraries from this project's node_modules. */
const NODE_ESM = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Libraries come from this project's node_modules wherever DIST is.
  nodePaths: [path.join(REPO_ROOT, 'node_modules')],
  sourcemap: 'linked',
  logLevel: 'warning',
  // Bundled CommonJS (oclif, pg, fast-glob) calls require() for Node's own modules and for files it finds at run
  // time (oclif: the plugins' commands and hooks).
  banner: {
    js: "import {createRequire as __aedbRequire} from 'node:module';const require = __aedbRequire(import.meta.url);",
  },
}

/** Imported from node_modules at run time, not bundled (but @oclif/core from OCLIF_CORE_BUNDLE). */
const EXTERNAL = [
  '@oclif/*',
  '@electric-sql/pglite',
  'exceljs',
  'exceljs/*',
  'jszip',
  'music-metadata',
  'pg-native',
  'tsx',
  'tsx/*',
]

/** The entry points in DIST: every command and hook, and every module a worker thread starts from. */
async function entryPoints(dist) {
  const files = await readdir(path.join(dist, 'src'), {recursive: true})
  return files
    .filter((f) => f.endsWith('.js'))
    .filter((f) => /^(commands|hooks)\//.test(f.split(path.sep).join('/')) || f.endsWith('-worker.js'))
    .map((f) => path.join(dist, 'src', f))
}

/**
 * A bundled module's `import.meta.url` would name the bundle, not the module: each use is rewritten to the URL the
 * module had in the tsc build (relative to the bundle), so `new URL('./worker.js', import.meta.url)` and
 * `createRequire(import.meta.url)` find what they found before.
 */
function keepModuleUrls(dist, outfile) {
  return {
    name: 'keep-module-urls',
    setup(plugin) {
      plugin.onLoad({filter: /\.js$/}, async (args) => {
        if (!args.path.startsWith(path.resolve(dist) + path.sep)) return undefined
        const source = await readFile(args.path, 'utf8')
        if (!source.includes('import.meta.url')) return undefined
        const relative = path.relative(path.dirname(outfile), args.path).split(path.sep).join('/')
        const url = `new URL(${JSON.stringify(relative)}, import.meta.url).href`
        return {contents: source.replaceAll('import.meta.url', url), loader: 'js'}
      })
    },
  }
}

/** Every `import … from '@oclif/core'` of the entry at ENTRY becomes an import of DIST/OCLIF_CORE_BUNDLE. */
function oclifCoreFromBundle(dist, entry) {
  const relative = path
    .relative(path.dirname(entry), path.join(dist, OCLIF_CORE_BUNDLE))
    .split(path.sep)
    .join('/')
  const specifier = relative.startsWith('.') ? relative : `./${relative}`
  return {
    name: 'oclif-core-from-bundle',
    setup(plugin) {
      plugin.onResolve({filter: /^@oclif\/core$/}, () => ({path: specifier, external: true}))
    },
  }
}

/** Bundles one entry point into STAGING (at its path relative to DIST), as if it were written over itself. */
async function bundleOne(dist, staging, entry) {
  await build({
    ...NODE_ESM,
    entryPoints: [entry],
    outfile: path.join(staging, path.relative(dist, entry)),
    external: EXTERNAL,
    plugins: [oclifCoreFromBundle(dist, entry), keepModuleUrls(dist, entry)],
  })
}

/**
 * Writes DIST/OCLIF_CORE_BUNDLE: every name @oclif/core exports, from one module. TypeScript stays out (oclif
 * requires it only to read a tsconfig.json in development; bundled, it would make the file 10 MB instead of 0.7).
 * The one thing oclif does differently from the bundle: it no longer warns when Node is older than its package.json
 * asks (>=18), since it finds that file through `__dirname`, which an ES module does not have; aedb's asks for 20.15.
 */
async function bundleOclifCore(dist) {
  const names = Object.keys(oclifCore).filter((name) => name !== 'default')
  await build({
    ...NODE_ESM,
    stdin: {contents: `export {${names.join(', ')}} from '@oclif/core'`, resolveDir: REPO_ROOT},
    outfile: path.join(dist, OCLIF_CORE_BUNDLE),
    external: ['typescript'],
  })
}

/**
 * Bundles every entry point of DIST; returns how many. All are bundled from the tsc build before any replaces its
 * module, since one entry may import another's module.
 */
export async function bundleCommands(distDir) {
  const dist = path.resolve(distDir)
  const entries = await entryPoints(dist)
  const staging = await mkdtemp(path.join(dist, '.bundle-'))
  try {
    await Promise.all([bundleOclifCore(dist), ...entries.map((entry) => bundleOne(dist, staging, entry))])
    for (const entry of entries) {
      const bundled = path.join(staging, path.relative(dist, entry))
      await rename(bundled, entry)
      await rename(`${bundled}.map`, `${entry}.map`)
    }
  } finally {
    await rm(staging, {recursive: true, force: true})
  }
  return entries.length
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const count = await bundleCommands(process.argv[2] ?? 'dist')
  console.log(`bundled ${count} entry points`)
}
