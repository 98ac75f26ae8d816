import {type CompiledQuery, type Kysely, type RawBuilder, sql} from 'kysely'
import pg from 'pg'
import type {CopyOut} from '../db/connection.js'
import type {Database} from '../db/schema.js'
import {copyLines} from './table-cells.js'
import {LOG_ORDER, type TableQuery} from './table-queries.js'

/** Rows a `COPY` of a group of logs aims at: its sort stays small and in memory, its text a few MiB. */
export const GROUP_ROWS = 20_000
/**
 * Groups read ahead of the one being written, each on a connection of its own: two keep the server's side busy on
 * both cores while the client waits for it (the pool has four connections).
 */
const READ_AHEAD = 2
/** At most this many logs in one group (the ids are written into the query). */
const GROUP_LOGS = 500

export interface CopyTableLinesProps {
  db: Kysely<Database>
  copyOut: CopyOut
  /** The table's query for the filter. */
  query: TableQuery
  /** The select list. */
  select: RawBuilder<unknown>
  /** For a table of log rows: its `logRowCounts`, when the caller has them already. */
  logs?: readonly LogRowCount[]
}

/** A processing log with rows for a table and filter, and how many. */
export interface LogRowCount {
  id: string
  n: number
}

/**
 * A table's rows as COPY text (chunks of whole lines, each ending in a line feed), in the order of `query.order`.
 *
 * Rows of a processing log (`query.withinLog`) are read in groups of whole logs, each group one `COPY` that sorts
 * only its own rows by log position then `withinLog`: the same order as one sort of the whole table by `order`
 * (the log order names one log), but without the server's external sort of every full row, which took most of
 * an export's time. The next two groups are read on connections of their own while this one is written. Each log
 * comes whole from one statement; groups are separate statements, as tables are.
 */
export async function* copyTableLines(props: CopyTableLinesProps): AsyncGenerator<Buffer> {
  const {db, copyOut, query, select} = props
  if (!query.withinLog) {
    yield* copyLines(copyOut(copyQueryText(db, sql`select ${select} ${query.from} order by ${query.order}`)))
    return
  }
  const groups = groupLogs(props.logs ?? (await logRowCounts(db, query)))
  const texts = groups.map((ids) => {
    const list = sql`array[${sql.join(ids)}]::uuid[]`
    return copyQueryText(
      db,
      sql`select ${select} ${query.from} and t.processing_log_id = any(${list})
        order by array_position(${list}, t.processing_log_id), ${query.withinLog}`,
    )
  })
  for await (const buffers of readAhead(
    texts.map((text) => () => collect(copyOut(text))),
    READ_AHEAD,
  ))
    yield* copyLines(buffers)
}

/** The logs with rows for the table and filter, in log order, with their row counts. */
export async function logRowCounts(db: Kysely<Database>, query: TableQuery): Promise<LogRowCount[]> {
  const {rows} = await sql<LogRowCount>`select l.id::text as id, count(*)::int as n ${query.from}
    group by l.id, ${LOG_ORDER} order by ${LOG_ORDER}`.execute(db)
  return rows
}

/** Consecutive logs in groups of about `GROUP_ROWS` rows (a bigger log is a group of its own). */
export function groupLogs(logs: readonly LogRowCount[]): string[][] {
  const groups: string[][] = []
  let group: string[] = []
  let rows = 0
  for (const log of logs) {
    if (group.length > 0 && (rows + log.n > GROUP_ROWS || group.length >= GROUP_LOGS)) {
      groups.push(group)
      group = []
      rows = 0
    }
    group.push(log.id)
    rows += log.n
  }
  if (group.length > 0) groups.push(group)
  return groups
}

/** Every chunk of a COPY, read to the end (its connection is then free again). */
async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = []
  for await (const chunk of chunks) out.push(chunk)
  return out
}

/** The results of `starts` in order, the next `ahead` started while the current one is being used. */
async function* readAhead<T>(starts: ReadonlyArray<() => Promise<T>>, ahead: number): AsyncGenerator<T> {
  const started: Array<Promise<T>> = []
  const start = (i: number) => {
    const promise = starts[i]?.()
    // A failure of one read ahead is reported when it is its turn, not as an unhandled rejection.
    promise?.catch(() => {})
    if (promise) started.push(promise)
  }
  for (let i = 0; i < ahead; i++) start(i)
  try {
    for (let i = 0; i < starts.length; i++) {
      start(i + ahead)
      yield await started.shift()!
    }
  } finally {
    await Promise.allSettled(started)
  }
}

function copyQueryText(db: Kysely<Database>, query: RawBuilder<unknown>): string {
  return inlineParameters(query.compile(db))
}

/**
 * A compiled query with its parameters written in as literals, for COPY (which takes none): strings quoted by the
 * driver's own `escapeLiteral`, finite numbers as they are. The SQL is aedb's own, so `$n` only marks parameters.
 */
function inlineParameters(query: CompiledQuery): string {
  return query.sql.replace(/\$(\d+)/g, (_, n: string) => {
    const value = query.parameters[Number(n) - 1]
    if (typeof value === 'number' && Number.isFinite(value)) return String(value)
    if (typeof value === 'string') return pg.escapeLiteral(value)
    throw new Error(`cannot write parameter $${n} (${typeof value}) into a COPY query`)
  })
}
