import {createHash} from 'node:crypto'
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  sql,
} from 'kysely'
import {AedbError, EXIT} from '../errors.js'
import {assessDataLoss, type DataLoss, dataLossError} from './assess-data-loss.js'
import {recordSchemaFingerprint} from './schema-fingerprint.js'

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema of their own day, not today's types.
type AnyDb = Kysely<any>

export interface MigrationModule {
  up(db: AnyDb): Promise<void>
  down?(db: AnyDb): Promise<void>
}

export interface NamedMigration {
  /** `YYYYMMDDHHMMSS_description`, the file name in migrations/ without its extension. */
  name: string
  module: MigrationModule
}

export const MIGRATION_TABLE = 'aedb_migrations'
/** The advisory lock all aedb migration runs share: ('aedb' as int4, 1). */
export const MIGRATION_LOCK_KEY = [0x61656462, 1] as const

export interface AppliedMigration {
  name: string
  appliedAt: string
  checksum: string
}

export interface MigrationProblem {
  name: string
  kind: 'edited' | 'missing' | 'out-of-order'
  message: string
}

export interface MigrationStatus {
  applied: AppliedMigration[]
  pending: string[]
  problems: MigrationProblem[]
}

export interface MigrationStep {
  name: string
  direction: 'up' | 'down'
  sql: string[]
  durationMs: number
  /** Down only: the rows this step destroys or rewrites, counted before anything ran. */
  dataLoss?: DataLoss[]
}

export interface MigrateResult {
  direction: 'up' | 'down'
  dryRun: boolean
  steps: MigrationStep[]
  status: MigrationStatus
}

export interface MigrateProps {
  db: AnyDb
  migrations: readonly NamedMigration[]
  dryRun?: boolean
  lockTimeoutMs?: number
  onProgress?: (step: {name: string; direction: 'up' | 'down'}) => void
}

export interface MigrateUpProps extends MigrateProps {
  /** Apply pending migrations up to and including this one. */
  to?: string
}

export interface MigrateDownProps extends MigrateProps {
  /** Revert this many migrations (default 1). */
  steps?: number
  /** Revert everything applied after this migration; `base` reverts them all. */
  to?: string
  /** Revert even when that drops or deletes rows (without it, such a down throws MIGRATION_DOWN_LOSES_DATA). */
  force?: boolean
}

export function migrationFile(name: string): string {
  return `migrations/${name}.ts`
}

/** The SQL a migration would run, captured by compiling it against a database that executes nothing. */
export async function recordMigrationSql(
  migration: NamedMigration,
  direction: 'up' | 'down',
): Promise<string[]> {
  const recorded: string[] = []
  const db = new Kysely<unknown>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new RecordingDriver(recorded),
      createQueryCompiler: () => new PostgresQueryCompiler(),
      createIntrospector: (kysely) => new PostgresIntrospector(kysely),
    },
  })
  try {
    const fn = direction === 'up' ? migration.module.up : migration.module.down
    if (fn) await fn(db as AnyDb)
  } finally {
    await db.destroy()
  }
  return recorded
}

/** SHA-256 of what the migration does (its up and down SQL), so an edit that changes behaviour is caught. */
export async function migrationChecksum(migration: NamedMigration): Promise<string> {
  const up = await recordMigrationSql(migration, 'up')
  const down = await recordMigrationSql(migration, 'down')
  return createHash('sha256').update(JSON.stringify({up, down})).digest('hex')
}

/**
 * Applied, pending and problem migrations. Without `checksums` (a caller that only needs to know whether the schema
 * is behind) the applied ones are not compared with this version's (no `edited` problems): compiling every
 * migration to SQL for its checksum is a few milliseconds of every command's start.
 */
export async function getMigrationStatus(
  db: AnyDb,
  migrations: readonly NamedMigration[],
  options: {checksums?: boolean} = {},
): Promise<MigrationStatus> {
  const applied = await readApplied(db)
  const known = new Map(migrations.map((m) => [m.name, m]))
  const appliedNames = new Set(applied.map((a) => a.name))
  const problems: MigrationProblem[] = []
  for (const row of applied) {
    const migration = known.get(row.name)
    if (!migration) {
      problems.push({
        name: row.name,
        kind: 'missing',
        message: `${migrationFile(row.name)} was applied to this database but is not in this version of aedb.`,
      })
    } else if (options.checksums !== false && (await migrationChecksum(migration)) !== row.checksum) {
      problems.push({
        name: row.name,
        kind: 'edited',
        message: `${migrationFile(row.name)} was edited after it was applied (checksum differs).`,
      })
    }
  }
  const newestApplied = applied.reduce<string | null>(
    (max, a) => (max === null || a.name > max ? a.name : max),
    null,
  )
  const pending = migrations.filter((m) => !appliedNames.has(m.name)).map((m) => m.name)
  for (const name of pending) {
    if (newestApplied !== null && name < newestApplied) {
      problems.push({
        name,
        kind: 'out-of-order',
        message: `${migrationFile(name)} is not applied but is older than ${migrationFile(newestApplied)}, which is.`,
      })
    }
  }
  return {applied, pending, problems}
}

async function readApplied(db: AnyDb): Promise<AppliedMigration[]> {
  const exists = await sql<{
    name: string | null
  }>`select to_regclass(${MIGRATION_TABLE})::text as name`.execute(db)
  if (!exists.rows[0]?.name) return []
  const rows = await sql<{name: string; applied_at: Date | string; checksum: string}>`
    select name, applied_at, checksum from ${sql.table(MIGRATION_TABLE)} order by name`.execute(db)
  return rows.rows.map((r) => ({
    name: r.name,
    appliedAt: r.applied_at instanceof Date ? r.applied_at.toISOString() : String(r.applied_at),
    checksum: r.checksum,
  }))
}

export async function migrateUp(props: MigrateUpProps): Promise<MigrateResult> {
  return runMigrations(props, 'up', async (status) => {
    if (status.problems.length > 0) throw blockedError(status.problems)
    let names = status.pending
    if (props.to !== undefined) {
      const index = names.indexOf(props.to)
      if (index === -1) throw unknownTarget(props.to, props.migrations, 'is not pending')
      names = names.slice(0, index + 1)
    }
    return names
  })
}

export async function migrateDown(props: MigrateDownProps): Promise<MigrateResult> {
  return runMigrations({...props, refuseDataLoss: !props.force}, 'down', async (status) => {
    const applied = status.applied.map((a) => a.name).reverse()
    if (props.to === 'base') return applied
    if (props.to !== undefined) {
      const index = applied.indexOf(props.to)
      if (index === -1) throw unknownTarget(props.to, props.migrations, 'is not applied')
      return applied.slice(0, index)
    }
    return applied.slice(0, props.steps ?? 1)
  })
}

async function runMigrations(
  props: MigrateProps & {refuseDataLoss?: boolean},
  direction: 'up' | 'down',
  choose: (status: MigrationStatus) => Promise<string[]>,
): Promise<MigrateResult> {
  const byName = new Map(props.migrations.map((m) => [m.name, m]))
  if (props.dryRun) {
    // Reads only: no lock, no bookkeeping table, nothing executed.
    const status = await getMigrationStatus(props.db, props.migrations)
    const steps: MigrationStep[] = []
    for (const name of await choose(status)) {
      const migration = requireMigration(byName, name, direction)
      const statements = await recordMigrationSql(migration, direction)
      steps.push({
        name,
        direction,
        sql: statements,
        durationMs: 0,
        ...(direction === 'down' ? {dataLoss: await assessDataLoss(props.db, name, statements)} : {}),
      })
    }
    return {direction, dryRun: true, steps, status}
  }
  return props.db.connection().execute(async (conn) => {
    await acquireMigrationLock(conn, props.lockTimeoutMs ?? 30_000)
    try {
      await ensureMigrationTable(conn)
      const status = await getMigrationStatus(conn, props.migrations)
      const chosen = await choose(status)
      const dataLoss = direction === 'down' ? await assessSteps(conn, byName, chosen) : new Map()
      const losses = [...dataLoss.values()].flat()
      if (props.refuseDataLoss && losses.length > 0) throw dataLossError(losses)
      const steps: MigrationStep[] = []
      for (const name of chosen) {
        const migration = requireMigration(byName, name, direction)
        props.onProgress?.({name, direction})
        const started = performance.now()
        const statements = await recordMigrationSql(migration, direction)
        const checksum = await migrationChecksum(migration)
        // Each migration in its own transaction: a failure leaves the earlier ones applied and this one not at all.
        await conn.transaction().execute(async (trx) => {
          if (direction === 'up') {
            await migration.module.up(trx)
          } else {
            await migration.module.down?.(trx)
          }
          const durationMs = Math.round(performance.now() - started)
          if (direction === 'up') {
            await sql`insert into ${sql.table(MIGRATION_TABLE)} (name, checksum, execution_ms)
              values (${name}, ${checksum}, ${durationMs})`.execute(trx)
          } else {
            await sql`delete from ${sql.table(MIGRATION_TABLE)} where name = ${name}`.execute(trx)
          }
        })
        steps.push({
          name,
          direction,
          sql: statements,
          durationMs: Math.round(performance.now() - started),
          ...(direction === 'down' ? {dataLoss: dataLoss.get(name) ?? []} : {}),
        })
      }
      // The schema as aedb left it: `verify` reports any later difference as SCHEMA_DRIFT.
      if (steps.length > 0)
        await recordSchemaFingerprint(conn, (await readApplied(conn)).at(-1)?.name ?? null)
      if (direction === 'down' && (await readApplied(conn)).length === 0) {
        await sql`drop table if exists ${sql.table(MIGRATION_TABLE)}`.execute(conn)
      }
      return {direction, dryRun: false, steps, status: await getMigrationStatus(conn, props.migrations)}
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY[0]}::int4, ${MIGRATION_LOCK_KEY[1]}::int4)`.execute(
        conn,
      )
    }
  })
}

/** Every step's data loss counted against the database as it is now, before any of them runs. */
async function assessSteps(
  db: AnyDb,
  byName: Map<string, NamedMigration>,
  names: readonly string[],
): Promise<Map<string, DataLoss[]>> {
  const result = new Map<string, DataLoss[]>()
  for (const name of names) {
    const statements = await recordMigrationSql(requireMigration(byName, name, 'down'), 'down')
    result.set(name, await assessDataLoss(db, name, statements))
  }
  return result
}

/** The bookkeeping table of applied migrations (also used by `aedb restore`, which applies migrations itself). */
export async function ensureMigrationTable(db: AnyDb): Promise<void> {
  await sql`create table if not exists ${sql.table(MIGRATION_TABLE)} (
    name text primary key,
    checksum text not null check (checksum ~ '^[0-9a-f]{64}$'),
    applied_at timestamptz not null default now(),
    execution_ms integer not null
  )`.execute(db)
}

function requireMigration(byName: Map<string, NamedMigration>, name: string, direction: 'up' | 'down') {
  const migration = byName.get(name)
  if (!migration) {
    throw new AedbError(
      `Cannot migrate ${direction}: ${migrationFile(name)} is not in this version of aedb.`,
      {
        code: 'MIGRATION_MISSING',
        exit: EXIT.DATABASE,
        suggestions: ['Run the aedb version that applied it, or restore the migration file.'],
      },
    )
  }
  return migration
}

async function acquireMigrationLock(conn: AnyDb, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const {rows} = await sql<{locked: boolean}>`
      select pg_try_advisory_lock(${MIGRATION_LOCK_KEY[0]}::int4, ${MIGRATION_LOCK_KEY[1]}::int4) as locked`.execute(
      conn,
    )
    if (rows[0]?.locked) return
    if (Date.now() >= deadline) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  const holder = await sql<{pid: number; application_name: string | null; backend_start: Date | null}>`
    select a.pid, a.application_name, a.backend_start
    from pg_locks l join pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'advisory' and l.granted
      and l.classid = ${MIGRATION_LOCK_KEY[0]}::oid and l.objid = ${MIGRATION_LOCK_KEY[1]}::oid and l.objsubid = 2`
    .execute(conn)
    .catch(() => ({rows: []}))
  const who = holder.rows[0]
  const description = who
    ? `server process ${who.pid}${who.application_name ? ` (${who.application_name})` : ''}${
        who.backend_start ? `, connected since ${new Date(who.backend_start).toISOString()}` : ''
      }`
    : 'another session'
  throw new AedbError(`Another migration is running: the migration lock is held by ${description}.`, {
    code: 'MIGRATION_LOCKED',
    exit: EXIT.DATABASE,
    suggestions: ['Wait for it to finish and run the command again, or pass a longer --lock-timeout.'],
  })
}

function blockedError(problems: MigrationProblem[]): AedbError {
  return new AedbError(`Migrations are blocked: ${problems.map((p) => p.message).join(' ')}`, {
    code: 'MIGRATION_DRIFT',
    exit: EXIT.DATABASE,
    suggestions: [
      'Restore the original migration files (`git checkout migrations/` in a clone of aedb; reinstall the aedb package otherwise), or use the aedb version that applied them.',
      'See `aedb migrate status` for the full list.',
    ],
  })
}

function unknownTarget(name: string, migrations: readonly NamedMigration[], why: string): AedbError {
  return new AedbError(`Migration ${name} ${why}.`, {
    code: 'MIGRATION_UNKNOWN_TARGET',
    exit: EXIT.USAGE,
    suggestions: [
      `Known migrations: ${migrations.map((m) => m.name).join(', ')}; see \`aedb migrate status\`.`,
    ],
  })
}

/** Throws (exit 4) unless every known migration is applied and none has drifted. */
export async function assertSchemaCurrent(db: AnyDb, migrations: readonly NamedMigration[]): Promise<void> {
  const status = await getMigrationStatus(db, migrations)
  if (status.problems.length > 0) throw blockedError(status.problems)
  if (status.pending.length > 0) {
    throw new AedbError(
      `The database schema is behind: ${status.pending.length} migration(s) not applied (${status.pending.join(', ')}).`,
      {
        code: 'SCHEMA_BEHIND',
        exit: EXIT.DATABASE,
        suggestions: ['Run `aedb migrate` (or `aedb init`) first.'],
      },
    )
  }
}

class RecordingDriver implements Driver {
  constructor(private readonly recorded: string[]) {}
  async init() {}
  async acquireConnection(): Promise<DatabaseConnection> {
    const recorded = this.recorded
    return {
      async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
        recorded.push(inlineParameters(query))
        return {rows: []}
      },
      // biome-ignore lint/correctness/useYield: nothing to stream from a database that executes nothing.
      async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
        throw new Error('not supported')
      },
    }
  }
  async beginTransaction() {}
  async commitTransaction() {}
  async rollbackTransaction() {}
  async releaseConnection() {}
  async destroy() {}
}

function inlineParameters(query: CompiledQuery): string {
  return query.sql.replace(/\$(\d+)/g, (match, index: string) => {
    const value = query.parameters[Number(index) - 1]
    if (value === undefined) return match
    if (value === null) return 'null'
    if (typeof value === 'number' || typeof value === 'boolean') return String(value)
    return `'${String(value).replaceAll("'", "''")}'`
  })
}
