import {spawn} from 'node:child_process'
import {cp, mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {mediaState} from '../importers/json/media-state.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {PROJECT_ROOT, runCli} from '../support/run-cli.js'

const FIXTURE = path.join(PROJECT_ROOT, 'fixtures', 'stemset')
const manifest = JSON.parse(await readFile(path.join(FIXTURE, 'manifest.json'), 'utf8')) as {
  recordings: Array<{profile: string; output_name: string; stems: unknown[]}>
}

// Several processes writing one server at once is a PostgreSQL deployment; PGlite is one process by design.
describe.skipIf(!testBackends().includes('postgres'))(
  'aedb import-json against one PostgreSQL from several processes',
  () => {
    let tree: string
    const databases: TestDatabase[] = []
    let clean: Awaited<ReturnType<typeof mediaState>>

    const fresh = async () => {
      const database = await createTestDatabase('postgres')
      databases.push(database)
      return database
    }
    const stateOf = async (database: TestDatabase) => {
      const opened = await database.open()
      try {
        return await mediaState(opened.db)
      } finally {
        await opened.close()
      }
    }

    beforeAll(async () => {
      tree = await mkdtemp(path.join(tmpdir(), 'aedb-concurrent-'))
      await cp(FIXTURE, tree, {recursive: true})
      const database = await fresh()
      const result = await runCli(['import-json', tree, '--database-url', database.url, '--json'])
      expect(result.exitCode, result.stderr).toBe(0)
      clean = await stateOf(database)
      expect(clean.recordings).toHaveLength(10)
    })

    afterAll(async () => {
      for (const database of databases) await database.drop()
      if (tree) await rm(tree, {recursive: true, force: true})
    })

    it('two imports of the same tree started together end in the state one clean run gives', async () => {
      const database = await fresh()
      const [a, b] = await Promise.all([
        runCli(['import-json', tree, '--database-url', database.url, '--json', '--jobs', '4']),
        runCli(['import-json', tree, '--database-url', database.url, '--json', '--jobs', '3']),
      ])
      expect(a.exitCode, a.stderr).toBe(0)
      expect(b.exitCode, b.stderr).toBe(0)
      expect(await stateOf(database)).toEqual(clean)
    })

    it('an import killed part-way leaves only whole recordings, and the next run ends in the clean state', async () => {
      const database = await fresh()
      const opened = await database.open()
      try {
        // Kill with SIGKILL as soon as some, but not all, recordings are committed.
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            path.join(PROJECT_ROOT, 'bin', 'dev.js'),
            'import-json',
            tree,
            '--database-url',
            database.url,
            '--jobs',
            '1',
            '-q',
          ],
          {
            cwd: PROJECT_ROOT,
            env: {PATH: process.env.PATH, HOME: process.env.HOME, NODE_OPTIONS: ''},
            stdio: 'ignore',
          },
        )
        const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
        let killedAt = -1
        let finished = false
        void exited.then(() => {
          finished = true
        })
        while (!finished) {
          const {n} = await opened.db
            .selectFrom('recordings')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
          if (Number(n) >= 1 && Number(n) < 10) {
            child.kill('SIGKILL')
            killedAt = Number(n)
            break
          }
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
        expect(await exited).toBeNull()
        expect(killedAt).toBeGreaterThan(0)

        // All or nothing: every recording that made it has all of its stems.
        const partial = await mediaState(opened.db)
        expect(partial.recordings!.length).toBeLessThan(10)
        for (const recording of partial.recordings!) {
          const profile = partial.profiles!.find((p) => p.id === recording.profile_id)!.name
          const expected = manifest.recordings.find(
            (r) => r.profile === profile && r.output_name.normalize('NFC') === recording.folder_name,
          )!
          expect(partial.stems!.filter((s) => s.recording_id === recording.id)).toHaveLength(
            expected.stems.length,
          )
        }
        const run = await opened.db.selectFrom('runs').select('outcome').executeTakeFirstOrThrow()
        expect(run.outcome).toBe('running')
      } finally {
        await opened.close()
      }
      const again = await runCli(['import-json', tree, '--database-url', database.url, '--json'])
      expect(again.exitCode, again.stderr).toBe(0)
      expect(await stateOf(database)).toEqual(clean)
    })
  },
)
