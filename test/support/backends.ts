import {randomBytes} from 'node:crypto'
import {cp, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {inject} from 'vitest'
import {type OpenDatabase, openDatabase} from '../../src/db/connection.js'
import {type DatabaseTarget, parseDatabaseUrl} from '../../src/db/database-url.js'
import {adminQuery, databaseUrlWithName} from './postgres.js'

export type BackendName = 'pglite' | 'postgres'

export interface TestDatabase {
  backend: BackendName
  /** What to pass as --database-url. */
  url: string
  target: DatabaseTarget
  open(): Promise<OpenDatabase>
  drop(): Promise<void>
}

/** The backends this run tests on: PGlite always, PostgreSQL when AEDB_TEST_DATABASE_URL is set (always in CI). */
export function testBackends(): BackendName[] {
  return inject('postgresUrl') ? ['pglite', 'postgres'] : ['pglite']
}

export interface CreateTestDatabaseOptions {
  /** Start from the migrated template (default) or from nothing at all. */
  migrated?: boolean
}

/** A fresh database of its own for one test file or test: a copy of the migrated template, or a new server db. */
export async function createTestDatabase(
  backend: BackendName,
  options: CreateTestDatabaseOptions = {},
): Promise<TestDatabase> {
  const migrated = options.migrated ?? true
  if (backend === 'pglite') {
    const root = await mkdtemp(path.join(tmpdir(), 'aedb-db-'))
    const dir = path.join(root, 'db')
    if (migrated) await cp(inject('pgliteTemplate'), dir, {recursive: true})
    const url = `pglite:${dir}`
    return {
      backend,
      url,
      target: parseDatabaseUrl(url, '--database-url'),
      open: () => openDatabase(parseDatabaseUrl(url, '--database-url')),
      drop: () => rm(root, {recursive: true, force: true}),
    }
  }
  const serverUrl = inject('postgresUrl')
  if (!serverUrl) throw new Error('PostgreSQL tests need AEDB_TEST_DATABASE_URL')
  const name = `aedb_t_${randomBytes(6).toString('hex')}`
  if (migrated) {
    await adminQuery(serverUrl, `create database ${name}`)
  }
  const url = databaseUrlWithName(serverUrl, name)
  const target = parseDatabaseUrl(url, '--database-url')
  const db: TestDatabase = {
    backend,
    url,
    target,
    open: () => openDatabase(target, {createDatabase: true}),
    drop: () => adminQuery(serverUrl, `drop database if exists ${name} with (force)`),
  }
  if (migrated) {
    const {migrateUp} = await import('../../src/db/migrator.js')
    const {MIGRATIONS} = await import('../../src/db/migrations.js')
    const opened = await db.open()
    try {
      await migrateUp({db: opened.db, migrations: MIGRATIONS})
    } finally {
      await opened.close()
    }
  }
  return db
}
