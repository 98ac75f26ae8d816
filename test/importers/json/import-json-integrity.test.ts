import {randomBytes} from 'node:crypto'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../../src/db/connection.js'
import {importJson} from '../../../src/importers/json/import-json.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../../support/backends.js'
import {PROJECT_ROOT} from '../../support/run-cli.js'

const RECORDING = 'media/one/Demo_3_final_aa830cb3'

describe.each(testBackends())('import-json refuses what would break it, and goes on (%s)', (backend) => {
  let database: TestDatabase
  let opened: OpenDatabase
  let app: string

  beforeAll(async () => {
    database = await createTestDatabase(backend)
    opened = await database.open()
    app = path.join(await mkdtemp(path.join(tmpdir(), 'aedb-stemset-')), 'app')
    await cp(path.join(PROJECT_ROOT, 'fixtures', 'stemset'), app, {recursive: true})
  })
  afterAll(async () => {
    await opened?.close()
    await database?.drop()
    if (app) await rm(path.dirname(app), {recursive: true, force: true})
  })

  it('rejects config.yaml holding a YAML alias bomb, and a recording over a PostgreSQL limit, importing the rest', async () => {
    const level = (name: string, of: string) => `${name}: &${name} [${Array(9).fill(`*${of}`).join(', ')}]\n`
    await writeFile(
      path.join(app, 'config.yaml'),
      `a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n${level('b', 'a')}${level('c', 'b')}${level('d', 'c')}${level('e', 'd')}${level('f', 'e')}${level('g', 'f')}`,
    )
    const metadataFile = path.join(app, RECORDING, 'metadata.json')
    const metadata = JSON.parse(await readFile(metadataFile, 'utf8'))
    // A stem name no btree index row can hold (over 2 704 bytes even compressed): PostgreSQL error 54000.
    const huge = randomBytes(6000).toString('base64')
    metadata.stems[huge] = {...metadata.stems.vocals, stem_type: huge}
    await writeFile(metadataFile, JSON.stringify(metadata))

    const result = await importJson({db: opened.db, paths: [app]})
    expect(result.rejected).toContainEqual(
      expect.objectContaining({
        file: 'config.yaml',
        code: 'INVALID_CONFIG',
        message: expect.stringContaining('alias'),
      }),
    )
    expect(result.rejected).toContainEqual(
      expect.objectContaining({
        file: RECORDING,
        code: 'REFUSED_BY_DATABASE',
        message: expect.stringContaining('over a PostgreSQL size limit'),
      }),
    )
    expect(result.rejected).toHaveLength(2)
    expect(result.files.imported).toBeGreaterThan(0)
    const folders = await opened.db.selectFrom('recordings').select('folder_name').execute()
    expect(folders.map((f) => f.folder_name)).not.toContain('Demo_3_final_aa830cb3')
  })
})
