import {type Kysely, sql} from 'kysely'
import {AedbError, EXIT} from '../errors.js'
import {findRunIds, type RunSummary, toRunSummary} from './list-runs.js'
import {type RunMessage, readRunMessages} from './run-messages.js'
import type {Database} from './schema.js'

export interface TableChanges {
  inserted: number
  updated: number
  deleted: number
}

export interface ShowRunResult extends RunSummary {
  aedbVersion: string
  hostname: string | null
  pid: number | null
  rejected: Omit<RunMessage, 'kind'>[]
  warnings: Omit<RunMessage, 'kind'>[]
  /** What the run changed, per table, from the audit log. */
  changes: Record<string, TableChanges>
}

export interface ShowRunProps {
  db: Kysely<Database>
  /** A run id, or its first characters. */
  id: string
}

/** One run: its counts, what it rejected and warned about, and what it changed. */
export async function showRun(props: ShowRunProps): Promise<ShowRunResult> {
  const runId = await resolveRunId(props.db, props.id)
  const row = await props.db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow()
  const messages = await readRunMessages(props.db, runId)
  const strip = ({kind: _kind, ...rest}: RunMessage) => rest
  return {
    ...toRunSummary(row),
    aedbVersion: row.aedb_version,
    hostname: row.hostname,
    pid: row.pid,
    rejected: messages.filter((m) => m.kind === 'rejected').map(strip),
    warnings: messages.filter((m) => m.kind === 'warning').map(strip),
    changes: await changesOf(props.db, runId),
  }
}

async function resolveRunId(db: Kysely<Database>, id: string): Promise<string> {
  const ids = await findRunIds(db, id)
  if (ids.length === 1) return ids[0]!
  throw new AedbError(
    ids.length === 0 ? `There is no run with id ${id}.` : `${id} is the start of several run ids.`,
    {
      code: ids.length === 0 ? 'RUN_NOT_FOUND' : 'RUN_AMBIGUOUS',
      exit: EXIT.USAGE,
      suggestions: ['`aedb runs` lists the runs with their ids.'],
    },
  )
}

async function changesOf(db: Kysely<Database>, runId: string): Promise<Record<string, TableChanges>> {
  const {rows} = await sql<{table_name: string; operation: 'insert' | 'update' | 'delete'; n: number}>`
    select table_name, operation, count(*)::int as n from audit_log where run_id = ${runId}
    group by 1, 2 order by 1, 2`.execute(db)
  const changes: Record<string, TableChanges> = {}
  for (const r of rows) {
    changes[r.table_name] ??= {inserted: 0, updated: 0, deleted: 0}
    const key = r.operation === 'insert' ? 'inserted' : r.operation === 'update' ? 'updated' : 'deleted'
    changes[r.table_name]![key] = r.n
  }
  return changes
}
