/**
 * A separate process for the embedded-database lock tests (test/db/pglite-folder-lock.test.ts), run with tsx:
 *
 *   race <dataDir> <controlDir> <trials>   each trial: wait for <controlDir>/go-<i>, take the lock, check that no
 *                                          one else is inside, hold 30 ms, release, write done-<i>-<pid>
 *   hold <dataDir> <ms> [file]             take the lock, print "acquired", hold <ms> or until <file> exists, release
 *   write <dataDir> <rows>                 open the database (waiting for the lock), insert <rows> runs, close
 */
import {existsSync, writeFileSync} from 'node:fs'
import {rm} from 'node:fs/promises'
import path from 'node:path'
import {withDatabase} from '../../src/db/connection.js'
import {parseDatabaseUrl} from '../../src/db/database-url.js'
import {lockPgliteFolder} from '../../src/db/pglite-folder-lock.js'
import {startRun} from '../../src/db/runs.js'

const TICK = new Int32Array(new SharedArrayBuffer(4))
const [mode, dataDir, ...rest] = process.argv.slice(2)
if (!dataDir) throw new Error('usage: lock-child.ts race|hold|write <dataDir> ...')

if (mode === 'race') {
  const [controlDir, trials] = rest as [string, string]
  for (let i = 0; i < Number(trials); i++) {
    const go = path.join(controlDir, `go-${i}`)
    // Poll every millisecond, synchronously: both processes must leave the barrier at nearly the same moment.
    while (!existsSync(go)) Atomics.wait(TICK, 0, 0, 1)
    const release = await lockPgliteFolder({dataDir, timeoutMs: 30_000, pollMs: 5})
    const inside = path.join(controlDir, `inside-${i}`)
    try {
      writeFileSync(inside, String(process.pid), {flag: 'wx'})
    } catch {
      writeFileSync(path.join(controlDir, `overlap-${i}-${process.pid}`), '')
    }
    await new Promise((resolve) => setTimeout(resolve, 30))
    await rm(inside, {force: true})
    await release()
    writeFileSync(path.join(controlDir, `done-${i}-${process.pid}`), '')
  }
} else if (mode === 'hold') {
  const release = await lockPgliteFolder({dataDir, timeoutMs: 30_000, command: 'lock-child hold'})
  process.stdout.write('acquired\n')
  // Hold for <ms>, or until the file <releaseWhen> appears when given.
  const [ms, releaseWhen] = rest as [string, string | undefined]
  const until = Date.now() + Number(ms)
  while (Date.now() < until && !(releaseWhen && existsSync(releaseWhen))) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await release()
} else if (mode === 'write') {
  const target = parseDatabaseUrl(`pglite:${dataDir}`, '--database-url')
  await withDatabase(
    target,
    async ({db}) => {
      for (let i = 0; i < Number(rest[0]); i++) {
        await startRun({db, command: 'import-json', argv: [`row ${i}`], version: 'lock-test'})
      }
    },
    {pgliteLockTimeoutMs: 120_000},
  )
} else {
  throw new Error(`unknown mode ${mode}`)
}
