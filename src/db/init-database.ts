import {type Kysely, sql} from 'kysely'
import {type Backend, withDatabase} from './connection.js'
import type {DatabaseTarget} from './database-url.js'
import {getMigrationStatus, type MigrationStatus, migrateUp, type NamedMigration} from './migrator.js'
import {finishRun, startRun} from './runs.js'
import {type Database, TABLES} from './schema.js'

export interface InitDatabaseProps {
  target: DatabaseTarget
  migrations: readonly NamedMigration[]
  /** Only look: create nothing, apply nothing, record no run. */
  check?: boolean
  version: string
  argv?: readonly string[]
  lockTimeoutMs?: number
  onProgress?: (message: string) => void
}

export interface InitDatabaseResult {
  backend: Backend
  location: string
  created: boolean
  schemaVersion: string | null
  applied: string[]
  pending: number
  problems: MigrationStatus['problems']
  tables: Record<string, number>
}

export async function initDatabase(props: InitDatabaseProps): Promise<InitDatabaseResult> {
  const {target} = props
  return withDatabase(
    target,
    async ({db, backend, location, created}) => {
      let applied: string[] = []
      if (!props.check) {
        const result = await migrateUp({
          db,
          migrations: props.migrations,
          ...(props.lockTimeoutMs === undefined ? {} : {lockTimeoutMs: props.lockTimeoutMs}),
          onProgress: ({name}) => props.onProgress?.(`applying ${name}`),
        })
        applied = result.steps.map((s) => s.name)
        const runId = await startRun({db, command: 'init', argv: props.argv ?? [], version: props.version})
        await finishRun(db, runId, 'succeeded', {migrationsApplied: applied.length})
      }
      const status = await getMigrationStatus(db, props.migrations)
      return {
        backend,
        location,
        created,
        schemaVersion: status.applied.at(-1)?.name ?? null,
        applied,
        pending: status.pending.length,
        problems: status.problems,
        tables: await countRows(db),
      }
    },
    {createDatabase: !props.check, mustExist: Boolean(props.check)},
  )
}

/** Row counts of every aedb table that exists in the database. */
export async function countRows(db: Kysely<Database>): Promise<Record<string, number>> {
  const {rows} = await sql<{name: string}>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db)
  const existing = new Set(rows.map((r) => r.name))
  const counts: Record<string, number> = {}
  for (const table of TABLES) {
    if (!existing.has(table)) continue
    const result = await sql<{n: number}>`select count(*)::int as n from ${sql.table(table)}`.execute(db)
    counts[table] = result.rows[0]?.n ?? 0
  }
  return counts
}
