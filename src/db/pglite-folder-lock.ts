import {randomBytes} from 'node:crypto'
import {link, readdir, readFile, rm, stat, unlink, writeFile} from 'node:fs/promises'
import {hostname} from 'node:os'
import path from 'node:path'
import {AedbError, EXIT} from '../errors.js'
import {makeFolder} from '../make-folder.js'
import {redactSecrets} from './database-url.js'

/** Who holds an embedded database folder, as recorded in its lock. */
export interface LockOwner {
  pid: number
  hostname: string
  /** The command line of the holder (passwords redacted), for "waiting for pid N (aedb import-json …)". */
  command: string
  since: string
}

export interface LockPgliteFolderProps {
  dataDir: string
  /** Give up (DATABASE_BUSY, naming the holder) after waiting this long. */
  timeoutMs: number
  /** Called once, as soon as the folder turns out to be held by a live process. */
  onWait?: (owner: LockOwner) => void
  /** What to record as this process's command line. */
  command?: string
  pollMs?: number
}

export type ReleaseLock = () => Promise<void>

const OWNER = /^(\d+)\.owner$/
const RELEASED = /^(\d+)\.released$/
const TEMP_MAX_AGE_MS = 60_000

/**
 * Takes the lock of an embedded database folder: PGlite keeps the folder in this process's memory, so two
 * processes on one folder would corrupt it.
 *
 * The lock is a folder beside the data folder holding numbered generations. Taking the lock claims generation
 * N+1 with an exclusive create (link(2) of a complete owner file: it exists with its content or not at all),
 * allowed only when generation N is released or its owner is a dead process on this host. Two processes that
 * both judge N stale both try N+1 and exactly one create succeeds; a claim below the newest generation is
 * withdrawn, and generations are only ever deleted below the live one, so the newest number never goes down
 * and a slow process can never claim a number that is already past. Mtime-based staleness (as in
 * proper-lockfile) would hand over a lock whose holder is merely slow, and its stale takeover is two steps.
 */
export async function lockPgliteFolder(props: LockPgliteFolderProps): Promise<ReleaseLock> {
  const lockDir = `${props.dataDir}.locks`
  await makeFolder(lockDir)
  const me: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    command: props.command ?? currentCommand(),
    since: new Date().toISOString(),
  }
  const deadline = Date.now() + props.timeoutMs
  let announced = false
  for (;;) {
    const newest = await readNewestGeneration(lockDir)
    if (newest === null || newest.free) {
      const generation = (newest?.generation ?? 0) + 1
      if (await claimGeneration(lockDir, generation, me)) {
        if (await isNewest(lockDir, generation)) {
          await removeOlderGenerations(lockDir, generation)
          return releaseFor(lockDir, generation)
        }
        await rm(ownerFile(lockDir, generation), {force: true})
      }
      continue
    }
    if (!announced) {
      announced = true
      props.onWait?.(newest.owner!)
    }
    if (Date.now() > deadline) throw busyError(props.dataDir, newest.owner!)
    await new Promise((resolve) => setTimeout(resolve, props.pollMs ?? 100))
  }
}

interface Generation {
  generation: number
  owner: LockOwner | null
  /** Released by its owner, or held by a process that is gone. */
  free: boolean
}

async function readNewestGeneration(lockDir: string): Promise<Generation | null> {
  const names = await readdir(lockDir)
  const generations = generationsIn(names)
  if (generations.length === 0) return null
  const generation = Math.max(...generations)
  if (names.includes(`${generation}.released`)) return {generation, owner: null, free: true}
  const owner = await readOwner(ownerFile(lockDir, generation))
  // An owner file is complete from the moment it exists (linked into place) and stays while it is the newest;
  // one that cannot be parsed was damaged by hand.
  return {generation, owner, free: owner === null || !ownerAlive(owner)}
}

function generationsIn(names: readonly string[]): number[] {
  const found: number[] = []
  for (const name of names) {
    const match = OWNER.exec(name) ?? RELEASED.exec(name)
    if (match) found.push(Number(match[1]))
  }
  return found
}

/** Exclusive create of `<generation>.owner` with its full content: a temp file linked into place. */
async function claimGeneration(lockDir: string, generation: number, me: LockOwner): Promise<boolean> {
  const temp = path.join(lockDir, `tmp-${process.pid}-${randomBytes(6).toString('hex')}`)
  await writeFile(temp, `${JSON.stringify(me)}\n`, {flag: 'wx'})
  try {
    await link(temp, ownerFile(lockDir, generation))
    return true
  } catch (error) {
    if ((error as {code?: string}).code === 'EEXIST') return false
    throw error
  } finally {
    await unlink(temp).catch(() => {})
  }
}

async function isNewest(lockDir: string, generation: number): Promise<boolean> {
  return generationsIn(await readdir(lockDir)).every((g) => g <= generation)
}

/** Generations below the live one can never be taken again (any claim there is withdrawn), so they may go. */
async function removeOlderGenerations(lockDir: string, generation: number): Promise<void> {
  for (const name of await readdir(lockDir)) {
    const match = OWNER.exec(name) ?? RELEASED.exec(name)
    const stale = match
      ? Number(match[1]) < generation
      : name.startsWith('tmp-') && (await ageMs(path.join(lockDir, name))) > TEMP_MAX_AGE_MS
    if (stale) await rm(path.join(lockDir, name), {force: true})
  }
}

function releaseFor(lockDir: string, generation: number): ReleaseLock {
  let released = false
  return async () => {
    if (released) return
    released = true
    // Marked, not deleted: the newest generation number must stay in place (see lockPgliteFolder).
    await writeFile(path.join(lockDir, `${generation}.released`), '').catch(() => {})
  }
}

function ownerFile(lockDir: string, generation: number): string {
  return path.join(lockDir, `${generation}.owner`)
}

async function readOwner(file: string): Promise<LockOwner | null> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<LockOwner>
    if (typeof parsed.pid !== 'number' || typeof parsed.hostname !== 'string') return null
    return {
      pid: parsed.pid,
      hostname: parsed.hostname,
      command: String(parsed.command ?? ''),
      since: String(parsed.since ?? ''),
    }
  } catch {
    return null
  }
}

/** A holder on another host cannot be checked, so it counts as alive: waiting is safe, taking over is not. */
function ownerAlive(owner: LockOwner): boolean {
  if (owner.hostname !== hostname()) return true
  if (owner.pid === process.pid) return false
  try {
    process.kill(owner.pid, 0)
    return true
  } catch (error) {
    return (error as {code?: string}).code === 'EPERM'
  }
}

async function ageMs(file: string): Promise<number> {
  return stat(file).then(
    (s) => Date.now() - s.mtimeMs,
    () => 0,
  )
}

function currentCommand(): string {
  return redactSecrets(['aedb', ...process.argv.slice(2)].join(' ')).slice(0, 200)
}

export function describeOwner(owner: LockOwner): string {
  const where = owner.hostname === hostname() ? '' : ` on ${owner.hostname}`
  return `pid ${owner.pid}${where} (${owner.command || 'unknown command'}${owner.since ? `, since ${owner.since}` : ''})`
}

function busyError(dataDir: string, owner: LockOwner): AedbError {
  return new AedbError(
    `The embedded database at pglite:${dataDir} is in use by another aedb process: ${describeOwner(owner)}.`,
    {
      code: 'DATABASE_BUSY',
      exit: EXIT.DATABASE,
      suggestions: [
        'Wait for that process to finish, or use a PostgreSQL server (--database-url) for concurrent work.',
      ],
    },
  )
}
