import {hostname} from 'node:os'
import {type Kysely, sql} from 'kysely'
import {redactSecrets} from './database-url.js'
import type {Database, JsonObject} from './schema.js'

export type RunCommand =
  | 'init'
  | 'migrate'
  | 'backfill-excel'
  | 'import-json'
  | 'export-excel'
  | 'verify'
  | 'sql'
  | 'backup'
  | 'restore'
  | 'promote'
  | 'move-participant'
/** Every command that records runs, as `runs.command` allows. */
export const RUN_COMMANDS: readonly RunCommand[] = [
  'init',
  'migrate',
  'backfill-excel',
  'import-json',
  'export-excel',
  'verify',
  'sql',
  'backup',
  'restore',
  'promote',
  'move-participant',
]
export type RunOutcome = 'succeeded' | 'problems' | 'failed' | 'interrupted'

export interface StartRunProps {
  db: Kysely<Database>
  command: RunCommand
  argv: readonly string[]
  version: string
}

/** Records that a command started writing; returns the run id every row it writes will carry. */
export async function startRun(props: StartRunProps): Promise<string> {
  const row = await props.db
    .insertInto('runs')
    .values({
      command: props.command,
      arguments: JSON.stringify(redactArguments(props.argv)),
      aedb_version: props.version,
      hostname: hostname(),
      pid: process.pid,
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return row.id
}

export async function finishRun(
  db: Kysely<Database>,
  runId: string,
  outcome: RunOutcome,
  counts: JsonObject,
): Promise<void> {
  await db
    .updateTable('runs')
    .set({outcome, counts: JSON.stringify(counts), finished_at: sql<Date>`now()`})
    .where('id', '=', runId)
    .execute()
}

/** Command-line arguments as stored in `runs.arguments`: any URL password replaced by `***`. */
export function redactArguments(argv: readonly string[]): string[] {
  return argv.map((arg) => redactSecrets(arg))
}

/**
 * Marks `failed` the runs this machine left `running` whose process is gone (killed, crashed, machine restarted),
 * so a nightly report never shows an import as still going. Runs of other hosts are left alone.
 */
export async function closeAbandonedRuns(db: Kysely<Database>): Promise<number> {
  const running = await db
    .selectFrom('runs')
    .select(['id', 'pid'])
    .where('outcome', '=', 'running')
    .where('hostname', '=', hostname())
    .execute()
  const dead = running
    .filter((r) => r.pid !== null && r.pid !== process.pid && !processAlive(r.pid))
    .map((r) => r.id)
  if (dead.length === 0) return 0
  await db
    .updateTable('runs')
    .set({
      outcome: 'failed',
      finished_at: sql<Date>`now()`,
      counts: sql`counts || '{"abandoned": true}'::jsonb`,
    })
    .where('id', 'in', dead)
    .execute()
  return dead.length
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as {code?: string}).code === 'EPERM'
  }
}
