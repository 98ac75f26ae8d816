import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {loadCommands} from '../../scripts/generate-readme.js'
import {canonicalOptionValues} from '../../src/canonical-option-values.js'
import {closestName, typoDistance} from '../../src/closest-name.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

const VERSION = JSON.parse(await readFile(path.join(PROJECT_ROOT, 'package.json'), 'utf8')).version as string
// Nothing listens on port 1: a command that got as far as the database would exit 4, not 2.
const UNREACHABLE = 'postgresql://postgres@127.0.0.1:1/nowhere'

/** stderr without the stack trace oclif adds in development mode (bin/dev.js). */
function messageLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.trim() !== '' && !/^\s+at /.test(line))
}

describe('the conventions CLI users expect', () => {
  it('-h is --help, for aedb and for each command', async () => {
    const top = await runCli(['-h'])
    expect(top.exitCode, top.stderr).toBe(0)
    expect(top.stdout).toContain('backfill-excel')
    const command = await runCli(['import-json', '-h'])
    expect(command.exitCode, command.stderr).toBe(0)
    expect(command.stdout).toContain('--max-errors')
  })

  it('aedb version, -v and --version print the version', async () => {
    for (const args of [['version'], ['-v'], ['--version']]) {
      const run = await runCli(args)
      expect(run.exitCode, run.stderr).toBe(0)
      expect(run.stdout).toMatch(new RegExp(`^aedb/${VERSION.replaceAll('.', '\\.')} `))
    }
  })

  it('a mistyped command gets one line naming the nearest command, exit 2', async () => {
    const run = await runCli(['backfil-excel', 'logs'])
    expect(run.exitCode).toBe(2)
    expect(messageLines(run.stderr)).toEqual([
      'Error: `aedb backfil-excel` is not an aedb command; did you mean `aedb backfill-excel`?',
    ])
    const far = await runCli(['frobnicate'])
    expect(far.exitCode).toBe(2)
    expect(far.stderr).toContain('`aedb frobnicate` is not an aedb command; `aedb help` lists the commands.')
  })

  it('words after a command that takes no arguments are named as unexpected, not as an unknown command, exit 2', async () => {
    const run = await runCli(['init', 'extra'])
    expect(run.exitCode).toBe(2)
    expect(messageLines(run.stderr)).toEqual([
      'Error: unexpected argument: extra (`aedb init` takes no arguments here; see `aedb init --help`)',
    ])
    const topic = await runCli(['runs', 'extra-arg'])
    expect(topic.exitCode).toBe(2)
    expect(topic.stderr).toContain('unexpected argument: extra-arg (`aedb runs` takes no arguments here')
    const near = await runCli(['runs', 'shw'])
    expect(near.stderr).toContain('did you mean `aedb runs show`?')
  })

  it('a mistyped flag gets one line naming the flag and the nearest one, not the usage, exit 2', async () => {
    const run = await runCli(['backfill-excel', '--studdy', 'AOA', 'logs', '--database-url', UNREACHABLE])
    expect(run.exitCode).toBe(2)
    const lines = messageLines(run.stderr)
    expect(lines[0]).toBe('Error: Unknown flag: --studdy (did you mean --study?).')
    expect(lines.length).toBeLessThanOrEqual(3)
    expect(run.stderr).not.toMatch(/USAGE|FLAGS/)
    const json = await runCli(['import-json', 'media', '--jbos=2', '--json', '--database-url', UNREACHABLE])
    expect(json.exitCode).toBe(2)
    expect(JSON.parse(json.stdout).error).toMatchObject({
      code: 'UNKNOWN_FLAG',
      message: 'Unknown flag: --jbos (did you mean --jobs?).',
      exit: 2,
    })
  })

  it('an argument or flag value the parser refuses is a usage error (exit 2), not an internal one', async () => {
    const arg = await runCli([
      'move-participant',
      'abc',
      '--to',
      'preOA',
      '--json',
      '--database-url',
      UNREACHABLE,
    ])
    expect(arg.exitCode).toBe(2)
    expect(JSON.parse(arg.stdout).error).toMatchObject({
      code: 'USAGE',
      message: 'Expected an integer but received: abc',
      exit: 2,
    })
    const missing = path.join(tmpdir(), 'aedb-no-such-file.sql')
    const file = await runCli(['sql', '-f', missing, '--database-url', UNREACHABLE])
    expect(file.exitCode).toBe(2)
    expect(file.stderr).toContain(`No file found at ${missing}`)
    expect(file.stderr).not.toMatch(/internal error|bug in aedb/i)
  })

  it('a path the user gave that cannot be written is named, with exit 2 (output) or 4 (database), not a bug', async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'aedb-paths-'))
    try {
      const file = path.join(work, 'afile')
      await writeFile(file, 'in the way')
      const db = await runCli(['init', '--json', '--database-url', `pglite:${path.join(file, 'db')}`])
      expect(db.exitCode, db.stderr).toBe(4)
      expect(JSON.parse(db.stdout).error).toMatchObject({code: 'DATABASE_FOLDER_UNUSABLE', exit: 4})
      expect(JSON.parse(db.stdout).error.message).toContain(path.join(file, 'db'))
      if (existsSync('/proc/self')) {
        // Node's recursive mkdir never returned here; the kernel's ENOENT for a folder under /proc is the user's path.
        const proc = await runCli(['init', '--json', '--database-url', 'pglite:/proc/aedb-no-such/db'])
        expect(proc.exitCode, proc.stderr).toBe(4)
        expect(JSON.parse(proc.stdout).error.message).toMatch(/a folder cannot be created there \(ENOENT\)/)
      }
      const url = `pglite:${path.join(work, 'db')}`
      expect((await runCli(['init', '--quiet', '--database-url', url])).exitCode).toBe(0)
      const out = await runCli(['export-excel', path.join(file, 'x.xlsx'), '--json', '--database-url', url])
      expect(out.exitCode, out.stderr).toBe(2)
      expect(JSON.parse(out.stdout).error).toMatchObject({code: 'OUTPUT_INVALID', exit: 2})
    } finally {
      await rm(work, {recursive: true, force: true})
    }
  })

  it('option values are accepted in any case; an unknown one is still refused', async () => {
    // Were `smock` refused, this would be exit 2 before the path is looked at; the path check says exit 2 too,
    // so the message tells the two apart.
    const accepted = await runCli(['backfill-excel', '/nonexistent/x', '--study', 'smock', '--json'])
    expect(JSON.parse(accepted.stdout).error.code).toBe('PATH_NOT_FOUND')
    const refused = await runCli(['backfill-excel', '/nonexistent/x', '--study', 'smockk', '--json'])
    expect(refused.exitCode).toBe(2)
    expect(JSON.parse(refused.stdout).error.message).toContain('Expected --study=smockk to be one of')
  })

  it('every flag and argument with a list of options takes its values in any case, as the list writes them', async () => {
    let checked = 0
    for (const command of await loadCommands()) {
      for (const flag of Object.values(command.flags)) {
        if (flag.type !== 'option' || !flag.options) continue
        for (const option of flag.options) {
          for (const typed of [option.toUpperCase(), option.toLowerCase()]) {
            expect(canonicalOptionValues([`--${flag.name}`, typed], command.flags)).toEqual([
              `--${flag.name}`,
              option,
            ])
            expect(canonicalOptionValues([`--${flag.name}=${typed}`], command.flags)).toEqual([
              `--${flag.name}=${option}`,
            ])
            checked++
          }
        }
      }
      for (const arg of Object.values(command.args)) {
        for (const option of arg.options ?? []) {
          expect(canonicalOptionValues([option.toUpperCase()], command.flags, command.args)).toEqual([option])
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(20)
    // Values of other flags, arguments and everything after `--` are left as they are.
    const flags = {study: {type: 'option', options: ['AOA', 'SMoCK'], multiple: true}, to: {type: 'option'}}
    expect(
      canonicalOptionValues(['--study', 'aoa', 'smock', '--to', 'aoa', 'aoa', '--', '--study', 'aoa'], flags),
    ).toEqual(['--study', 'AOA', 'SMoCK', '--to', 'aoa', 'aoa', '--', '--study', 'aoa'])
  })
})

describe('did you mean', () => {
  it('counts a swap of two neighbouring letters as one typo, and suggests nothing far off', () => {
    expect(typoDistance('jbos', 'jobs')).toBe(1)
    expect(typoDistance('studdy', 'study')).toBe(1)
    expect(closestName('jbos', ['json', 'jobs'])).toBe('jobs')
    expect(closestName('frobnicate', ['init', 'migrate', 'backfill-excel'])).toBeUndefined()
  })
})

describe('shell completion', () => {
  it('aedb autocomplete writes bash and zsh completion naming the commands and their flags', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'aedb-home-'))
    try {
      const env = {HOME: home, XDG_CACHE_HOME: path.join(home, '.cache')}
      for (const shell of ['bash', 'zsh']) {
        const script = await runCli(['autocomplete', 'script', shell], {env})
        expect(script.exitCode, script.stderr).toBe(0)
        expect(script.stdout).toContain('AEDB_AC_')
      }
      const created = await runCli(['autocomplete', '--refresh-cache'], {env})
      expect(created.exitCode, created.stderr).toBe(0)
      const cache = path.join(home, '.cache', 'aedb', 'autocomplete')
      const bash = await readFile(path.join(cache, 'functions', 'bash', 'aedb.bash'), 'utf8')
      expect(bash).toContain('backfill-excel')
      expect(bash).toContain('--study')
      const zsh = await readFile(path.join(cache, 'functions', 'zsh', '_aedb'), 'utf8')
      expect(zsh).toContain('import-json')
      expect(zsh).toContain('--max-errors')
    } finally {
      await rm(home, {recursive: true, force: true})
    }
  })
})
