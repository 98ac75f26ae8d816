import {mkdir, mkdtemp, rm, stat, symlink, writeFile} from 'node:fs/promises'
import {homedir, tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  defaultPgliteDir,
  parseDatabaseUrl,
  redactSecrets,
  redactUrl,
  resolveDatabaseTarget,
} from '../../src/db/database-url.js'
import {redactArguments} from '../../src/db/runs.js'
import {loadEnvironment} from '../../src/env-files.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

const ALL = {
  AEDB_DATABASE_URL: 'pglite:/from/aedb',
  DATABASE_URL: 'pglite:/from/database',
  AE_DATABASE_URL: 'pglite:/from/ae',
}

describe('which database: resolution order', () => {
  it('takes --database-url over every variable', () => {
    const target = resolveDatabaseTarget({flag: 'pglite:/from/flag', env: ALL, cwd: '/'})
    expect(target).toMatchObject({backend: 'pglite', dataDir: '/from/flag', source: '--database-url'})
  })

  it('then AEDB_DATABASE_URL, then DATABASE_URL, then AE_DATABASE_URL', () => {
    expect(resolveDatabaseTarget({env: ALL}).source).toBe('AEDB_DATABASE_URL')
    const {AEDB_DATABASE_URL: _a, ...noAedb} = ALL
    expect(resolveDatabaseTarget({env: noAedb})).toMatchObject({
      dataDir: '/from/database',
      source: 'DATABASE_URL',
    })
    expect(resolveDatabaseTarget({env: {AE_DATABASE_URL: ALL.AE_DATABASE_URL}})).toMatchObject({
      dataDir: '/from/ae',
      source: 'AE_DATABASE_URL',
    })
  })

  it('skips a variable that is set but empty', () => {
    const target = resolveDatabaseTarget({
      env: {AEDB_DATABASE_URL: '  ', DATABASE_URL: 'pglite:/from/database'},
    })
    expect(target.source).toBe('DATABASE_URL')
  })

  it('falls back to the embedded database in the data directory', () => {
    const target = resolveDatabaseTarget({env: {}})
    const dir = path.join(homedir(), '.local', 'share', 'aedb', 'pglite')
    expect(target).toEqual({backend: 'pglite', dataDir: dir, redacted: `pglite:${dir}`, source: 'default'})
    expect(defaultPgliteDir({XDG_DATA_HOME: '/data'})).toBe('/data/aedb/pglite')
    expect(defaultPgliteDir({XDG_DATA_HOME: 'relative/is/ignored'})).toBe(dir)
  })
})

describe('which database: URL forms', () => {
  it('accepts postgres:// and postgresql://', () => {
    expect(parseDatabaseUrl('postgres://lab@db.example.org/aedb', 'DATABASE_URL')).toEqual({
      backend: 'postgres',
      url: 'postgresql://lab@db.example.org/aedb',
      redacted: 'postgresql://lab@db.example.org/aedb',
      source: 'DATABASE_URL',
    })
    expect(parseDatabaseUrl('postgresql://lab@db:5433/aedb', 'DATABASE_URL')).toMatchObject({
      url: 'postgresql://lab@db:5433/aedb',
    })
  })

  it('accepts SQLAlchemy URLs with a driver (postgresql+psycopg://) and drops the driver', () => {
    const target = parseDatabaseUrl('postgresql+psycopg://lab:s3cr3t-pw@db:5432/ae', 'AE_DATABASE_URL')
    expect(target).toEqual({
      backend: 'postgres',
      url: 'postgresql://lab:s3cr3t-pw@db:5432/ae',
      redacted: 'postgresql://lab:***@db:5432/ae',
      source: 'AE_DATABASE_URL',
    })
    expect(parseDatabaseUrl('postgresql+psycopg2://lab@db/ae', 'AE_DATABASE_URL')).toMatchObject({
      url: 'postgresql://lab@db/ae',
    })
  })

  it('resolves a relative pglite:<dir> against the working directory and keeps an absolute one', () => {
    expect(parseDatabaseUrl('pglite:./db', 'AEDB_DATABASE_URL', '/work/lab')).toEqual({
      backend: 'pglite',
      dataDir: '/work/lab/db',
      redacted: 'pglite:/work/lab/db',
      source: 'AEDB_DATABASE_URL',
    })
    expect(parseDatabaseUrl('pglite:data/aedb', '--database-url', '/work/lab')).toMatchObject({
      dataDir: '/work/lab/data/aedb',
    })
    expect(parseDatabaseUrl('pglite:/srv/aedb', '--database-url', '/work/lab')).toMatchObject({
      dataDir: '/srv/aedb',
    })
  })

  it('accepts memory: for a throwaway in-memory database', () => {
    expect(parseDatabaseUrl('memory:', '--database-url')).toEqual({
      backend: 'pglite',
      dataDir: null,
      redacted: 'memory:',
      source: '--database-url',
    })
  })

  it.each([
    'mysql://lab@db/aedb',
    'sqlite:///aedb.db',
    'pglite:',
    'db.example.org/aedb',
    'postgresql://lab:s3cr3t-pw@[not-a-host/aedb',
  ])('rejects %s with DATABASE_URL_INVALID, exit 2, naming where it came from', (raw) => {
    let error: unknown
    try {
      parseDatabaseUrl(raw, 'AEDB_DATABASE_URL')
    } catch (caught) {
      error = caught
    }
    expect(error).toMatchObject({code: 'DATABASE_URL_INVALID', exit: 2})
    expect((error as Error).message).toMatch(/^AEDB_DATABASE_URL is not a database URL/)
    expect((error as Error).message).not.toContain('s3cr3t-pw')
  })
})

describe('passwords are redacted', () => {
  it('in a URL', () => {
    expect(redactUrl('postgresql://lab:s3cr3t-pw@db:5432/aedb')).toBe('postgresql://lab:***@db:5432/aedb')
    expect(redactUrl('postgresql://lab:p%40ss%2Fw0rd@db/aedb')).toBe('postgresql://lab:***@db/aedb')
    expect(redactUrl('postgresql://lab@db/aedb?sslmode=require&password=s3cr3t-pw')).toBe(
      'postgresql://lab@db/aedb?sslmode=require&password=***',
    )
    expect(redactUrl('postgresql://lab@db/aedb')).toBe('postgresql://lab@db/aedb')
  })

  it('in free text: every URL, unencoded @ and / in passwords, and password= settings', () => {
    const text = [
      'could not reach postgresql://lab:s3cr3t-pw@db:5432/aedb: timeout',
      'or postgres://other:s3cr3t-pw@db2/x',
      'unencoded postgresql://lab:s3cr3t@pw@db/aedb and postgresql://lab:s3cr3t/pw@db/aedb',
      'user with @ postgresql://lab@server:s3cr3t-pw@db/aedb',
      "host=db password=s3cr3t-pw user=lab, password = 's3cr3t pw'",
    ].join('\n')
    const redacted = redactSecrets(text)
    expect(redacted).not.toMatch(/s3cr3t|pw@/)
    expect(redacted).toContain('postgresql://lab:***@db:5432/aedb: timeout')
    expect(redacted).toContain('postgres://other:***@db2/x')
    expect(redacted).toContain('postgresql://lab@server:***@db/aedb')
    expect(redacted).toContain('host=db password=*** user=lab, password = ***')
    expect(redactSecrets('postgresql://lab@db:5432/aedb')).toBe('postgresql://lab@db:5432/aedb')
  })

  it('in the arguments a run records', () => {
    expect(
      redactArguments([
        'init',
        '--database-url',
        'postgresql://lab:s3cr3t-pw@db/aedb',
        '--database-url=postgres://a:b@c/d',
      ]),
    ).toEqual([
      'init',
      '--database-url',
      'postgresql://lab:***@db/aedb',
      '--database-url=postgres://a:***@c/d',
    ])
  })
})

describe('.env and .env.local', () => {
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'aedb-env-'))
  })

  afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('are read from the working directory, .env.local over .env, the real environment over both', async () => {
    const cwd = path.join(dir, 'merge')
    await mkdir(cwd)
    await writeFile(
      path.join(cwd, '.env'),
      'AEDB_DATABASE_URL=pglite:./from-env-file\nDATABASE_URL=pglite:./db\n',
    )
    await writeFile(path.join(cwd, '.env.local'), 'DATABASE_URL=pglite:./from-local\n')
    expect(loadEnvironment(cwd, {})).toMatchObject({
      AEDB_DATABASE_URL: 'pglite:./from-env-file',
      DATABASE_URL: 'pglite:./from-local',
    })
    expect(loadEnvironment(cwd, {AEDB_DATABASE_URL: 'pglite:/real'})).toMatchObject({
      AEDB_DATABASE_URL: 'pglite:/real',
      DATABASE_URL: 'pglite:./from-local',
    })
    expect(loadEnvironment(path.join(dir, 'nowhere'), {A: 'b'})).toEqual({A: 'b'})
  })
})

describe('which database, through the CLI', () => {
  let dir: string
  /** Keeps the embedded default away from the real home directory whatever happens. */
  let dataHome: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'aedb-url-cli-'))
    dataHome = path.join(dir, 'data-home')
    // runCli starts `node --import tsx`, and Node resolves that specifier from the working directory.
    await symlink(path.join(PROJECT_ROOT, 'node_modules'), path.join(dir, 'node_modules'))
  })

  afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  /** `init --check` on a folder that does not exist names the folder it looked at and exits 4, opening nothing. */
  async function checkedLocation(cwd: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<string> {
    const result = await runCli(['init', '--check', '--json', ...args], {
      cwd,
      env: {XDG_DATA_HOME: dataHome, ...env},
    })
    expect(result.exitCode, result.stderr).toBe(4)
    const {error} = JSON.parse(result.stdout)
    expect(error.code).toBe('DATABASE_MISSING')
    const match = /at pglite:(\S+) yet/.exec(error.message)
    expect(match, error.message).not.toBeNull()
    return match![1]!
  }

  it('reads AEDB_DATABASE_URL from .env in the working directory: init --json creates and reports it', async () => {
    const cwd = path.join(dir, 'project')
    await mkdir(cwd)
    await writeFile(path.join(cwd, '.env'), '# the lab machine\nAEDB_DATABASE_URL=pglite:./db\n')
    const result = await runCli(['init', '--json'], {cwd, env: {XDG_DATA_HOME: dataHome}})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({
      backend: 'pglite',
      location: `pglite:${cwd}/db`,
      created: true,
    })
    expect((await stat(path.join(cwd, 'db', 'PG_VERSION'))).isFile()).toBe(true)
    await expect(stat(path.join(dataHome, 'aedb'))).rejects.toThrow()
  })

  it('lets .env.local win over .env, and the real environment and the flag over both', async () => {
    const envOnly = path.join(dir, 'env-only')
    const both = path.join(dir, 'env-and-local')
    for (const cwd of [envOnly, both]) {
      await mkdir(cwd)
      await writeFile(path.join(cwd, '.env'), 'AEDB_DATABASE_URL=pglite:./from-env-file\n')
    }
    await writeFile(path.join(both, '.env.local'), 'AEDB_DATABASE_URL=pglite:./from-env-local\n')
    const locations = await Promise.all([
      checkedLocation(envOnly, {}),
      checkedLocation(both, {}),
      checkedLocation(both, {AEDB_DATABASE_URL: 'pglite:./from-shell'}),
      checkedLocation(both, {}, ['--database-url', 'pglite:./from-flag']),
    ])
    expect(locations).toEqual([
      path.join(envOnly, 'from-env-file'),
      path.join(both, 'from-env-local'),
      path.join(both, 'from-shell'),
      path.join(both, 'from-flag'),
    ])
  })

  it('follows flag > AEDB_DATABASE_URL > DATABASE_URL > AE_DATABASE_URL > embedded default', async () => {
    const env = {AEDB_DATABASE_URL: 'pglite:./a', DATABASE_URL: 'pglite:./b', AE_DATABASE_URL: 'pglite:./c'}
    const [flag, aedb, database, ae, fallback] = await Promise.all([
      checkedLocation(dir, env, ['--database-url', 'pglite:./f']),
      checkedLocation(dir, env),
      checkedLocation(dir, {DATABASE_URL: env.DATABASE_URL, AE_DATABASE_URL: env.AE_DATABASE_URL}),
      checkedLocation(dir, {AE_DATABASE_URL: env.AE_DATABASE_URL}),
      checkedLocation(dir, {}),
    ])
    expect([flag, aedb, database, ae, fallback]).toEqual([
      path.join(dir, 'f'),
      path.join(dir, 'a'),
      path.join(dir, 'b'),
      path.join(dir, 'c'),
      path.join(dataHome, 'aedb', 'pglite'),
    ])
  })

  it('opens memory: without touching the disk', async () => {
    const result = await runCli(['init', '--json', '--database-url', 'memory:'], {
      cwd: dir,
      env: {XDG_DATA_HOME: dataHome},
    })
    expect(result.exitCode, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({
      backend: 'pglite',
      location: 'memory:',
      created: true,
      pending: 0,
    })
    await expect(stat(path.join(dataHome, 'aedb'))).rejects.toThrow()
  })

  it('rejects a URL it does not understand with exit 2 and DATABASE_URL_INVALID, from the flag or a variable', async () => {
    const [fromFlag, fromEnv] = await Promise.all([
      runCli(['init', '--json', '--database-url', 'mysql://lab:s3cr3t-pw@db/aedb'], {cwd: dir}),
      runCli(['migrate', 'status'], {cwd: dir, env: {DATABASE_URL: 'mysql://lab:s3cr3t-pw@db/aedb'}}),
    ])
    expect(fromFlag.exitCode).toBe(2)
    expect(JSON.parse(fromFlag.stdout).error).toMatchObject({
      code: 'DATABASE_URL_INVALID',
      exit: 2,
      message: '--database-url is not a database URL aedb understands: mysql://lab:***@db/aedb.',
    })
    expect(fromEnv.exitCode).toBe(2)
    expect(fromEnv.stderr).toContain('DATABASE_URL is not a database URL aedb understands')
    for (const output of [fromFlag.stdout, fromFlag.stderr, fromEnv.stdout, fromEnv.stderr]) {
      expect(output).not.toContain('s3cr3t-pw')
    }
  })
})
