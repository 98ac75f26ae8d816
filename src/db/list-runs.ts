import {type Kysely, sql} from 'kysely'
import {redactSecrets} from './database-url.js'
import type {RunCommand} from './runs.js'
import type {Database, JsonObject} from './schema.js'

export interface RunSummary {
  runId: string
  command: string
  /** The command line, with any URL password replaced by `***` (again, for runs recorded by older versions). */
  arguments: string[]
  startedAt: string
  finishedAt: string | null
  durationS: number | null
  outcome: string
  counts: JsonObject
}

export interface ListRunsProps {
  db: Kysely<Database>
  command?: RunCommand
  /** The newest this many runs. */
  last: number
}

/** Past runs, newest first. */
export async function listRuns(props: ListRunsProps): Promise<RunSummary[]> {
  let query = props.db
    .selectFrom('runs')
    .select(['id', 'command', 'arguments', 'started_at', 'finished_at', 'outcome', 'counts'])
    .orderBy('started_at', 'desc')
    .orderBy('id')
    .limit(props.last)
  if (props.command) query = query.where('command', '=', props.command)
  return (await query.execute()).map(toRunSummary)
}

type RunRow = {
  id: string
  command: string
  arguments: unknown
  started_at: Date
  finished_at: Date | null
  outcome: string
  counts: JsonObject
}

export function toRunSummary(row: RunRow): RunSummary {
  const started = new Date(row.started_at)
  const finished = row.finished_at === null ? null : new Date(row.finished_at)
  return {
    runId: row.id,
    command: row.command,
    arguments: Array.isArray(row.arguments) ? row.arguments.map((a) => redactSecrets(String(a))) : [],
    startedAt: started.toISOString(),
    finishedAt: finished?.toISOString() ?? null,
    durationS: finished === null ? null : (finished.getTime() - started.getTime()) / 1000,
    outcome: row.outcome,
    counts: row.counts,
  }
}

/** Finds a run by its id or by the start of it (the first 8 characters are usually enough), as `id`s are long. */
export async function findRunIds(db: Kysely<Database>, idOrPrefix: string): Promise<string[]> {
  const prefix = idOrPrefix.toLowerCase().replaceAll(/[^0-9a-f-]/g, '')
  if (prefix === '') return []
  const rows = await db
    .selectFrom('runs')
    .select('id')
    .where(sql<string>`id::text`, 'like', `${prefix}%`)
    .limit(5)
    .execute()
  return rows.map((r) => r.id)
}
