import {execFile} from 'node:child_process'
import {cp, mkdtemp, readFile, rm, symlink, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type CliResult, PROJECT_ROOT, runCli} from '../support/run-cli.js'

const execFileAsync = promisify(execFile)

/** The built CLI with HOME in its working folder: the embedded default lives there, not in the user's data. */
function runBuilt(cli: string, args: string[], cwd: string): Promise<CliResult> {
  return runCli(args, {script: cli, cwd, env: {HOME: cwd}})
}

/**
 * The README's quick start on the built CLI, in a copy of the project's entry point: `npm run build` (tsc, each
 * command bundled, the oclif manifest) and `./bin/run.js init && ./bin/run.js backfill-excel fixtures/knee-ae/v4-2026-01-29`.
 * The built CLI finds its commands through dist/oclif.manifest.json; bin/dev.js (every other test) never does.
 */
describe('the built CLI (npm run build, ./bin/run.js)', () => {
  let project: string
  let cli: string

  beforeAll(async () => {
    project = await mkdtemp(path.join(os.tmpdir(), 'aedb-built-'))
    // The whole bin/ folder, as the package ships it (`files` in package.json): run.js imports its neighbours.
    await cp(path.join(PROJECT_ROOT, 'bin'), path.join(project, 'bin'), {recursive: true})
    await cp(path.join(PROJECT_ROOT, 'package.json'), path.join(project, 'package.json'))
    await symlink(path.join(PROJECT_ROOT, 'node_modules'), path.join(project, 'node_modules'))
    // `npm run build` into the copy: tsc, each command bundled into one file, the oclif manifest. execFile rejects
    // (failing set-up) on a non-zero exit, which tsc errors give.
    const build = path.join(PROJECT_ROOT, 'scripts', 'build-cli.mjs')
    await execFileAsync(process.execPath, [build, path.join(project, 'dist')], {cwd: PROJECT_ROOT})
    cli = path.join(project, 'bin', 'run.js')
  })

  afterAll(async () => {
    await rm(project, {recursive: true, force: true})
  })

  it('writes a manifest naming every command with its flags', async () => {
    const manifest = JSON.parse(await readFile(path.join(project, 'dist', 'oclif.manifest.json'), 'utf8'))
    const pjson = JSON.parse(await readFile(path.join(PROJECT_ROOT, 'package.json'), 'utf8'))
    expect(manifest.version).toBe(pjson.version)
    const ids = Object.keys(manifest.commands)
    for (const id of [
      'init',
      'migrate',
      'backfill-excel',
      'import-json',
      'export-excel',
      'verify',
      'backup',
    ]) {
      expect(ids).toContain(id)
    }
    expect(Object.keys(manifest.commands.verify.flags)).toContain('time-limit')
  })

  it('runs the quick start on the embedded default', async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'aedb-built-run-'))
    try {
      const fixtures = path.join(PROJECT_ROOT, 'fixtures', 'knee-ae', 'v4-2026-01-29')
      const version = await runBuilt(cli, ['--version'], cwd)
      expect(version.stdout).toMatch(/^aedb\/\d+\.\d+\.\d+ /)
      const init = await runBuilt(cli, ['init'], cwd)
      expect(init.exitCode, init.stderr).toBe(0)
      const backfill = await runBuilt(cli, ['backfill-excel', fixtures, '--json'], cwd)
      expect(backfill.exitCode, backfill.stderr).toBe(0)
      const summary = JSON.parse(backfill.stdout)
      expect(summary.files.imported).toBeGreaterThan(0)
      const again = await runBuilt(cli, ['backfill-excel', fixtures, '--json'], cwd)
      expect(JSON.parse(again.stdout).files.imported).toBe(0)
    } finally {
      await rm(cwd, {recursive: true, force: true})
    }
  })

  it('bundles each command: libraries that load at every start are inside the file, not imported', async () => {
    const verify = await readFile(path.join(project, 'dist', 'src', 'commands', 'verify.js'), 'utf8')
    const imported = [...verify.matchAll(/^import\b[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? '')
    for (const library of ['kysely', 'pg', 'zod', '@oclif/core']) expect(imported).not.toContain(library)
    // oclif is the one bundled copy bin/run.js starts from, not node_modules' (about 160 modules).
    expect(new Set(imported.filter((specifier) => specifier.startsWith('.')))).toEqual(
      new Set(['../../oclif-core.js']),
    )
  })

  it("loads none of node_modules' @oclif/core for a command of its own, only for the plugins' commands", async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'aedb-built-run-'))
    try {
      // Counts, at exit, the CommonJS modules loaded from node_modules/@oclif/core (ESM imports of CommonJS are
      // in the same cache).
      const counter = path.join(cwd, 'count-oclif-core.mjs')
      await writeFile(
        counter,
        `import {createRequire} from 'node:module'
const cache = createRequire(import.meta.url).cache
process.on('exit', () => {
  const loaded = Object.keys(cache).filter((file) => file.includes('/node_modules/@oclif/core/'))
  process.stderr.write('node_modules @oclif/core modules: ' + loaded.length + '\\n')
})
`,
      )
      const counted = (args: string[]) =>
        runCli(args, {
          script: cli,
          cwd,
          env: {HOME: cwd, NODE_OPTIONS: `--import ${pathToFileURL(counter).href}`},
        })
      expect((await runBuilt(cli, ['init', '--quiet'], cwd)).exitCode).toBe(0)
      for (const args of [['--version'], ['verify', '--help'], ['verify', '--check', 'schema', '--json']]) {
        const result = await counted(args)
        expect(result.exitCode, result.stderr).toBe(0)
        expect(result.stderr).toContain('node_modules @oclif/core modules: 0\n')
      }
      const help = await counted(['help', 'verify'])
      expect(help.exitCode, help.stderr).toBe(0)
      expect(help.stdout).toBe((await runBuilt(cli, ['verify', '--help'], cwd)).stdout)
      expect(help.stderr).not.toContain('node_modules @oclif/core modules: 0\n')
    } finally {
      await rm(cwd, {recursive: true, force: true})
    }
  })

  it('runs import-json, verify and export-excel from their bundles (worker threads, lazily loaded libraries)', async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'aedb-built-run-'))
    try {
      const media = path.join(PROJECT_ROOT, 'fixtures', 'stemset')
      expect((await runBuilt(cli, ['init', '--quiet'], cwd)).exitCode).toBe(0)
      const imported = await runBuilt(cli, ['import-json', media, '--json'], cwd)
      expect(imported.exitCode, imported.stderr).toBe(0)
      expect(JSON.parse(imported.stdout).files.imported).toBeGreaterThan(0)
      const verify = await runBuilt(cli, ['verify', '--rehash', '--json'], cwd)
      expect(verify.exitCode, verify.stderr).toBe(0)
      const report = JSON.parse(verify.stdout)
      expect(report.checked.files).toBeGreaterThan(0)
      expect(report.checked.bytesHashed).toBeGreaterThan(0)
      expect(report.findings.filter((f: {severity: string}) => f.severity === 'error')).toEqual([])
      const out = path.join(cwd, 'media.xlsx')
      const exported = await runBuilt(cli, ['export-excel', out, '--json'], cwd)
      expect(exported.exitCode, exported.stderr).toBe(0)
      expect(JSON.parse(exported.stdout).sheets.stems).toBeGreaterThan(0)
    } finally {
      await rm(cwd, {recursive: true, force: true})
    }
  })
})
