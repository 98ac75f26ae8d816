import {type Kysely, sql} from 'kysely'
import type {Backend} from './connection.js'
import {getMigrationStatus, type NamedMigration} from './migrator.js'
import {type Database, type JsonObject, TABLES} from './schema.js'

export interface DatabaseStatusProps {
  db: Kysely<Database>
  backend: Backend
  location: string
  migrations: readonly NamedMigration[]
  /** Tables the catalog says hold more rows than this are not counted but estimated (an exact count scans them). */
  estimateAbove?: number
}

export interface LastRun {
  command: string
  runId: string
  startedAt: string
  outcome: string
  counts: JsonObject
}

export interface DatabaseStatus {
  backend: Backend
  location: string
  schemaVersion: string | null
  /** Migrations this aedb has that the database has not applied yet. */
  pending: string[]
  tables: Record<string, number>
  /** The tables whose row count in `tables` is the catalog's estimate rather than a count. */
  estimated: string[]
  files: {count: number; bytes: number; missing: number}
  lastRuns: LastRun[]
}

const ESTIMATE_ABOVE = 1_000_000

/** What is in the database, read-only and quick however large it is. */
export async function getDatabaseStatus(props: DatabaseStatusProps): Promise<DatabaseStatus> {
  const migrations = await getMigrationStatus(props.db, props.migrations)
  const {tables, estimated} = await countTableRows(props.db, props.estimateAbove ?? ESTIMATE_ABOVE)
  return {
    backend: props.backend,
    location: props.location,
    schemaVersion: migrations.applied.at(-1)?.name ?? null,
    pending: migrations.pending,
    tables,
    estimated,
    files: tables.files === undefined ? {count: 0, bytes: 0, missing: 0} : await fileTotals(props.db),
    lastRuns: tables.runs === undefined ? [] : await lastRunOfEachCommand(props.db),
  }
}

/** Exact counts for small tables; the planner's estimate (pg_class.reltuples, kept by ANALYZE) for large ones. */
async function countTableRows(
  db: Kysely<Database>,
  estimateAbove: number,
): Promise<{tables: Record<string, number>; estimated: string[]}> {
  const {rows} = await sql<{name: string; estimate: number}>`
    select c.relname as name, c.reltuples::float8 as estimate from pg_class c
    where c.relnamespace = current_schema()::regnamespace and c.relkind = 'r'`.execute(db)
  const estimates = new Map(rows.map((r) => [r.name, r.estimate]))
  const tables: Record<string, number> = {}
  const estimated: string[] = []
  for (const table of TABLES) {
    const estimate = estimates.get(table)
    if (estimate === undefined) continue
    if (estimate > estimateAbove) {
      tables[table] = Math.round(estimate)
      estimated.push(table)
    } else {
      const result = await sql<{n: number}>`select count(*)::int as n from ${sql.table(table)}`.execute(db)
      tables[table] = result.rows[0]?.n ?? 0
    }
  }
  return {tables, estimated}
}

async function fileTotals(db: Kysely<Database>): Promise<DatabaseStatus['files']> {
  const row = await db
    .selectFrom('files')
    .select([
      sql<number>`count(*)::int`.as('count'),
      sql<number>`coalesce(sum(size_bytes) filter (where present), 0)::float8`.as('bytes'),
      sql<number>`count(*) filter (where not present)::int`.as('missing'),
    ])
    .executeTakeFirstOrThrow()
  return {count: row.count, bytes: row.bytes, missing: row.missing}
}

async function lastRunOfEachCommand(db: Kysely<Database>): Promise<LastRun[]> {
  const {rows} = await sql<{
    command: string
    id: string
    started_at: Date
    outcome: string
    counts: JsonObject
  }>`select distinct on (command) command, id, started_at, outcome, counts from runs
     order by command, started_at desc`.execute(db)
  return rows.map((r) => ({
    command: r.command,
    runId: r.id,
    startedAt: new Date(r.started_at).toISOString(),
    outcome: r.outcome,
    counts: r.counts,
  }))
}
