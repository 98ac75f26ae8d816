import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {writeBackup} from '../../src/backup/write-backup.js'
import {MIGRATIONS} from '../../src/db/migrations.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {readBackupText} from '../support/backup-files.js'

/** Text that a careless COPY would quote or escape: quotes, backslashes, tabs, newlines, \N, non-ASCII. */
const AWKWARD = ['say "hi"', 'back\\slash', 'tab\there', 'two\nlines', '\\N', 'ünï ²', '', ',;|']

/**
 * A backup reads rows through COPY TO STDOUT when it has a copy session on a server, and through a cursor otherwise
 * (PGlite, or no session): both must write exactly the same lines.
 */
describe.each(testBackends())('backup rows read with and without a copy session on %s', (backend) => {
  let db: TestDatabase
  let work: string
  let withCopy: string[]
  let withCursor: string[]

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aedb-backup-paths-'))
    db = await createTestDatabase(backend)
    const opened = await db.open()
    try {
      await sql`insert into import_roots (id, path)
        select gen_random_uuid(), '/data/' || v || g from unnest(${AWKWARD}::text[]) v, generate_series(1, 3000) g`.execute(
        opened.db,
      )
      const write = async (name: string, copy: boolean) => {
        const file = path.join(work, name)
        await writeBackup({
          db: opened.db,
          ...(copy ? {withCopySession: opened.withCopySession} : {}),
          backend: opened.backend,
          file,
          migrations: MIGRATIONS,
          version: 'test',
        })
        // Header (its createdAt) and trailer (whose content checksum covers the header) differ by design.
        return (await readBackupText(file)).slice(1, -1)
      }
      withCopy = await write('copy.aedb.gz', true)
      withCursor = await write('cursor.aedb.gz', false)
    } finally {
      await opened.close()
    }
  }, 300_000)

  afterAll(async () => {
    await db?.drop()
    if (work) await rm(work, {recursive: true, force: true})
  })

  it('writes the same lines either way', () => {
    const start = withCopy.findIndex((line) => line.startsWith('{"table":"import_roots"'))
    const end = withCopy.findIndex((line, i) => i > start && line.startsWith('{"tableEnd"'))
    const roots = withCopy.slice(start + 1, end)
    expect(roots).toHaveLength(AWKWARD.length * 3000)
    const paths = roots.map((line) => (JSON.parse(line) as string[])[1])
    expect(paths).toContain('/data/tab\there1')
    expect(paths).toContain('/data/two\nlines3000')
    expect(paths).toContain('/data/\\N17')
    expect(withCopy).toEqual(withCursor)
  })
})
