import type {Kysely} from 'kysely'
import type {RawField, RawSession} from '../db/connection.js'
import {finishRun, startRun} from '../db/runs.js'
import type {Database} from '../db/schema.js'
import {AedbError, EXIT} from '../errors.js'
import {StatementFailure, toSqlError} from './describe-sql-error.js'
import {firstKeyword, type SqlStatement, splitStatements} from './split-statements.js'

export interface SqlColumn {
  name: string
  typeId: number
}

export interface StatementSummary {
  /** The command tag: SELECT, INSERT, UPDATE, CREATE, ... */
  command: string
  /** Rows returned (a query) or changed (INSERT, UPDATE, DELETE); null when the statement has no count. */
  rowCount: number | null
  /** The columns, for a statement that returns rows; null otherwise. */
  columns: string[] | null
}

/** Where rows go as they arrive; every call is awaited, so a slow reader (a pipe) slows the fetching down. */
export interface SqlResultSink {
  onColumns(columns: SqlColumn[]): Promise<void> | void
  onRows(rows: unknown[][]): Promise<void> | void
  onStatementEnd(summary: StatementSummary): Promise<void> | void
}

export interface RunSqlProps {
  db: Kysely<Database>
  withSession: <T>(fn: (session: RawSession) => Promise<T>) => Promise<T>
  sql: string
  /** Allow changes (in a transaction that commits at the end, recorded as a run and audited). */
  write: boolean
  sink: SqlResultSink
  /** For the run row of a --write run. */
  argv: readonly string[]
  version: string
  /** Rows fetched from the cursor at a time. */
  batchSize?: number
}

export interface RunSqlResult {
  statements: StatementSummary[]
  /** The run that recorded a --write invocation; null when read-only. */
  runId: string | null
}

// We own the transaction: a COMMIT in the input would end it and run the rest outside it (and outside read-only).
const TRANSACTION_CONTROL = new Set([
  'begin',
  'start',
  'commit',
  'end',
  'rollback',
  'abort',
  'savepoint',
  'release',
])
const QUERY_KEYWORDS = new Set(['select', 'with', 'values', 'table'])
const CURSOR = 'aedb_rows'
const BATCH_SIZE = 1000

/**
 * Runs SQL a person wrote: each statement in turn inside one transaction (read-only unless `write`), queries through a
 * cursor fetched in batches so a result of any size streams to `sink` in bounded memory. All or nothing: the first
 * error rolls everything back and is thrown as an AedbError pointing at its line in `sql`.
 */
export async function runSql(props: RunSqlProps): Promise<RunSqlResult> {
  const statements = parseStatements(props.sql)
  const runId = props.write
    ? await startRun({db: props.db, command: 'sql', argv: props.argv, version: props.version})
    : null
  const summaries: StatementSummary[] = []
  try {
    await props.withSession(async (session) => {
      await session.query(props.write ? 'start transaction read write' : 'start transaction read only')
      try {
        if (runId) await session.query(`select set_config('aedb.run_id', '${runId}', true)`)
        for (const statement of statements) {
          try {
            summaries.push(await runStatement(session, statement, props))
          } catch (error) {
            throw new StatementFailure(error, statement)
          }
        }
        await session.query('commit')
      } catch (error) {
        await session.query('rollback').catch(() => {})
        throw error
      }
    })
  } catch (error) {
    if (runId) await finishRun(props.db, runId, 'failed', countsOf(summaries)).catch(() => {})
    throw toSqlError(error, props.sql, props.write)
  }
  if (runId) await finishRun(props.db, runId, 'succeeded', countsOf(summaries))
  return {statements: summaries, runId}
}

function parseStatements(text: string): SqlStatement[] {
  const split = splitStatements(text)
  const statements = split.rest ? [...split.statements, split.rest] : split.statements
  if (statements.length === 0) {
    throw new AedbError('There is no SQL statement to run.', {
      code: 'SQL_EMPTY',
      exit: EXIT.USAGE,
      suggestions: ['Give the query as an argument, on stdin, or with -f FILE.'],
    })
  }
  for (const statement of statements) {
    const keyword = firstKeyword(statement.text)
    if (TRANSACTION_CONTROL.has(keyword)) {
      throw new AedbError(
        `aedb sql runs every statement in one transaction of its own; '${keyword.toUpperCase()}' is not allowed.`,
        {
          code: 'SQL_TRANSACTION_CONTROL',
          exit: EXIT.USAGE,
          suggestions: [
            'Leave out BEGIN/COMMIT/ROLLBACK/SAVEPOINT: all statements commit together, or none does.',
          ],
        },
      )
    }
  }
  return statements
}

/** The machine formats print one result: refuses input with several statements that return rows. */
export function assertOneResult(text: string, format: string): void {
  if (countResultStatements(text) <= 1) return
  throw new AedbError(
    `--${format} prints one result, and this SQL has several statements that return rows.`,
    {
      code: 'SQL_SEVERAL_RESULTS',
      exit: EXIT.USAGE,
      suggestions: ['Run the queries one at a time, or leave out the format flag for tables.'],
    },
  )
}

function countResultStatements(text: string): number {
  const split = splitStatements(text)
  const statements = split.rest ? [...split.statements, split.rest] : split.statements
  return statements.filter(
    (s) =>
      QUERY_KEYWORDS.has(firstKeyword(s.text)) ||
      ['show', 'explain', 'fetch'].includes(firstKeyword(s.text)) ||
      /\breturning\b/i.test(s.text),
  ).length
}

async function runStatement(
  session: RawSession,
  statement: SqlStatement,
  props: RunSqlProps,
): Promise<StatementSummary> {
  if (QUERY_KEYWORDS.has(firstKeyword(statement.text)) && (await declareCursor(session, statement.text))) {
    return fetchAll(session, props.sink, props.batchSize ?? BATCH_SIZE)
  }
  const result = await session.query(statement.text)
  if (result.fields.length === 0) {
    const summary = {command: result.command, rowCount: result.rowCount, columns: null}
    await props.sink.onStatementEnd(summary)
    return summary
  }
  await props.sink.onColumns(result.fields)
  if (result.rows.length > 0) await props.sink.onRows(result.rows)
  const summary = {command: result.command, rowCount: result.rows.length, columns: names(result.fields)}
  await props.sink.onStatementEnd(summary)
  return summary
}

/**
 * Opens the cursor, or returns false when the statement cannot be one (SELECT ... INTO, a WITH that changes data, a
 * mistake): the statement is then run as it is, which gives its own error with positions in the user's text.
 */
async function declareCursor(session: RawSession, text: string): Promise<boolean> {
  await session.query('savepoint aedb_declare')
  try {
    await session.query(`declare ${CURSOR} no scroll cursor for ${text}`)
    await session.query('release savepoint aedb_declare')
    return true
  } catch {
    await session.query('rollback to savepoint aedb_declare')
    await session.query('release savepoint aedb_declare')
    return false
  }
}

async function fetchAll(
  session: RawSession,
  sink: SqlResultSink,
  batchSize: number,
): Promise<StatementSummary> {
  let columns: RawField[] | null = null
  let rowCount = 0
  for (;;) {
    const batch = await session.query(`fetch forward ${batchSize} from ${CURSOR}`)
    if (columns === null) {
      columns = batch.fields
      await sink.onColumns(columns)
    }
    if (batch.rows.length > 0) await sink.onRows(batch.rows)
    rowCount += batch.rows.length
    if (batch.rows.length < batchSize) break
  }
  await session.query(`close ${CURSOR}`)
  const summary = {command: 'SELECT', rowCount, columns: names(columns)}
  await sink.onStatementEnd(summary)
  return summary
}

function names(fields: RawField[]): string[] {
  return fields.map((f) => f.name)
}

function countsOf(summaries: StatementSummary[]): {statements: number; rows: Record<string, number>} {
  const rows: Record<string, number> = {}
  for (const s of summaries) {
    if (s.rowCount !== null && s.command !== 'SELECT') rows[s.command] = (rows[s.command] ?? 0) + s.rowCount
  }
  return {statements: summaries.length, rows}
}
