import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {hostname, tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type LockOwner, lockPgliteFolder} from '../../src/db/pglite-folder-lock.js'
import {createTestDatabase, type TestDatabase} from '../support/backends.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'
import {withTestDatabase} from './with-test-database.js'

const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const CHILD = path.join(PROJECT_ROOT, 'test', 'support', 'lock-child.ts')

interface Child {
  process: ChildProcess
  stdout: () => string
  exit: Promise<{code: number | null; stderr: string}>
}

function spawnChild(...args: string[]): Child {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, CHILD, ...args], {
    cwd: PROJECT_ROOT,
    env: {PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const exit = new Promise<{code: number | null; stderr: string}>((resolve) =>
    child.on('close', (code) => resolve({code, stderr})),
  )
  return {process: child, stdout: () => stdout, exit}
}

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A pid that belonged to a real process that has exited. */
function deadPid(): number {
  const pid = spawnSync(process.execPath, ['-e', '']).pid
  expect(pid).toBeGreaterThan(0)
  return pid!
}

/** The lock a crashed aedb process leaves behind: its generation, never released. */
async function leaveStaleLock(dataDir: string, pid: number): Promise<void> {
  const lockDir = `${dataDir}.locks`
  await rm(lockDir, {recursive: true, force: true})
  await mkdir(lockDir, {recursive: true})
  const owner: LockOwner = {pid, hostname: hostname(), command: 'aedb backfill-excel (crashed)', since: ''}
  await writeFile(path.join(lockDir, '1.owner'), JSON.stringify(owner))
}

describe('the embedded database folder lock', () => {
  let root: string
  let dead: number

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'aedb-lock-'))
    dead = deadPid()
  })

  afterAll(async () => {
    await rm(root, {recursive: true, force: true})
  })

  it('two processes racing for a dead process lock never hold it together (30 trials)', async () => {
    const trials = 30
    const dataDir = path.join(root, 'race', 'db')
    const control = path.join(root, 'race', 'control')
    await mkdir(control, {recursive: true})
    const children = [
      spawnChild('race', dataDir, control, String(trials)),
      spawnChild('race', dataDir, control, String(trials)),
    ]
    for (let i = 0; i < trials; i++) {
      await leaveStaleLock(dataDir, dead)
      await writeFile(path.join(control, `go-${i}`), '')
      await until(
        async () => (await readdir(control)).filter((f) => f.startsWith(`done-${i}-`)).length === 2,
        `trial ${i}`,
      )
    }
    const exits = await Promise.all(children.map((c) => c.exit))
    for (const exit of exits) expect(exit.code, exit.stderr).toBe(0)
    const files = await readdir(control)
    expect(files.filter((f) => f.startsWith('overlap-'))).toEqual([])
    expect(files.filter((f) => f.startsWith('done-'))).toHaveLength(2 * trials)
  })

  it('an owner still alive is waited for: onWait names it at once, the timeout error names it too', async () => {
    const dataDir = path.join(root, 'held', 'db')
    const holder = spawnChild('hold', dataDir, '4000')
    await until(() => holder.stdout().includes('acquired'), 'the holder')
    const waitedFor: LockOwner[] = []
    const error = await lockPgliteFolder({
      dataDir,
      timeoutMs: 300,
      onWait: (owner) => waitedFor.push(owner),
    }).catch((e: unknown) => e)
    expect(waitedFor).toEqual([
      {pid: holder.process.pid, hostname: hostname(), command: 'lock-child hold', since: expect.any(String)},
    ])
    expect(error).toMatchObject({
      code: 'DATABASE_BUSY',
      exit: 4,
      message: expect.stringContaining(`pid ${holder.process.pid} (lock-child hold, since `),
    })
    expect((await holder.exit).code).toBe(0)
    // Released: taken at once, no waiting.
    const release = await lockPgliteFolder({dataDir, timeoutMs: 0, onWait: () => expect.unreachable()})
    await release()
  })
})

describe('processes sharing one embedded database (real PGlite)', () => {
  let database: TestDatabase

  beforeAll(async () => {
    database = await createTestDatabase('pglite')
  })

  afterAll(async () => {
    await database?.drop()
  })

  it('a waiting command says at once whom it waits for, read-only ones too, and then runs', async () => {
    const dataDir = database.url.slice('pglite:'.length)
    const released = path.join(path.dirname(dataDir), 'release-now')
    const holder = spawnChild('hold', dataDir, '150000', released)
    await until(() => holder.stdout().includes('acquired'), 'the holder')
    // The holder lets go only once the waiting command has said whom it waits for.
    const status = await runCli(['migrate', 'status', '--json', '--database-url', database.url], {
      killWhen: async ({stderr}) => {
        if (stderr.includes('waiting for the embedded database')) await writeFile(released, '')
        return false
      },
    })
    expect(status.exitCode, status.stderr).toBe(0)
    expect(status.stderr).toContain(
      `waiting for the embedded database at pglite:${dataDir}: it is in use by pid ${holder.process.pid} (lock-child hold, since `,
    )
    expect(JSON.parse(status.stdout).pending).toEqual([])
    expect((await holder.exit).code).toBe(0)
  })

  it('overlapping writers, one of them after a crashed process, never lose a committed row', async () => {
    const dataDir = database.url.slice('pglite:'.length)
    await leaveStaleLock(dataDir, deadPid())
    const rows = 40
    const writers = [1, 2, 3].map(() => spawnChild('write', dataDir, String(rows)))
    const exits = await Promise.all(writers.map((w) => w.exit))
    for (const exit of exits) expect(exit.code, exit.stderr).toBe(0)
    const byPid = await withTestDatabase(database, (db) =>
      db
        .selectFrom('runs')
        .select(['pid', (eb) => eb.fn.countAll<number>().as('n')])
        .where('aedb_version', '=', 'lock-test')
        .groupBy('pid')
        .orderBy('pid')
        .execute(),
    )
    expect(byPid.map((r) => ({pid: r.pid, n: Number(r.n)}))).toEqual(
      writers.map((w) => ({pid: w.process.pid, n: rows})).sort((a, b) => a.pid! - b.pid!),
    )
  })
})
