import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import type {TestProject} from 'vitest/node'
import {withDatabase} from '../../src/db/connection.js'
import {parseDatabaseUrl} from '../../src/db/database-url.js'
import {MIGRATIONS} from '../../src/db/migrations.js'
import {migrateUp} from '../../src/db/migrator.js'
import {checkPostgres} from './postgres.js'

/**
 * Runs once per `npm test`: builds a migrated PGlite folder that test files copy (initdb costs seconds, a copy
 * milliseconds), and makes sure the PostgreSQL suite can run when CI asks for it.
 */
export default async function setup(project: TestProject) {
  const root = await mkdtemp(path.join(tmpdir(), 'aedb-test-'))
  const dir = path.join(root, 'template')
  await withDatabase(parseDatabaseUrl(`pglite:${dir}`, '--database-url'), async ({db}) => {
    await migrateUp({db, migrations: MIGRATIONS})
  })
  project.provide('pgliteTemplate', dir)
  project.provide('postgresUrl', await checkPostgres())
  return async () => {
    await rm(root, {recursive: true, force: true})
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string
    postgresUrl: string | null
  }
}
