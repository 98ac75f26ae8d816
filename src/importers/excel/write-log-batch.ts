import path from 'node:path'
import type {TableName} from '../../db/schema.js'
import {quiet, type Sent, StatementQueue} from '../../db/statement-queue.js'
import {
  deletedCounts,
  sendDeleteStaleRowsOfMany,
  sendUpsertRows,
  type UpsertOutcome,
} from '../../db/upsert-rows.js'
import {FILE_COMPARE_COLUMNS, importRootId} from '../../files/file-catalog.js'
import type {UnitContext} from '../import-session.js'
import {
  buildLogRows,
  judgeStoredLog,
  type LogRows,
  rowsRemovedWarning,
  sourceImportRow,
  storedLogs,
  studyAndParticipantRows,
  type WriteLogProps,
  type WriteLogResult,
} from './write-log.js'

/** One workbook of a batch: what writeLog takes, without the unit it runs in. */
export type BatchedLog = Omit<WriteLogProps, 'ctx'>

/**
 * The batch cannot be written as one: two of its workbooks would give one row different values, so the order in
 * which they are written decides the result. The caller writes its workbooks one by one instead.
 */
export class BatchSplitError extends Error {}

type Row = Record<string, unknown> & {id: string}

/** A row and the workbook (its index in the batch) it comes from. */
interface Owned {
  owner: number
  row: Row
}

/**
 * Writes many workbooks with one statement per table (and per column set) instead of about twenty per workbook,
 * inside the caller's unit: the same rows, counts, warnings, audit entries and per-workbook results as writeLog on
 * each of them in turn. A workbook the database refuses fails the whole batch; the caller retries one by one.
 */
export async function writeLogBatch(
  ctx: UnitContext,
  logs: readonly BatchedLog[],
  /** The rows of each workbook once its participant's id is known (the benchmark passes rows built beforehand). */
  rowsOf: (log: BatchedLog, participantId: string) => LogRows = (l, id) =>
    buildLogRows(l.parsed, id, l.workbook.id, ctx.runId),
): Promise<WriteLogResult[]> {
  return new StatementQueue().around((queue) => writeInTurn(ctx, logs, rowsOf, queue))
}

async function writeInTurn(
  ctx: UnitContext,
  logs: readonly BatchedLog[],
  rowsOf: (log: BatchedLog, participantId: string) => LogRows,
  queue: StatementQueue,
): Promise<WriteLogResult[]> {
  const changed = logs.map(() => false)
  const participantIds = await writeParticipantsOfBatch(ctx, logs, changed, queue)
  const stored = await storedLogs(
    ctx.trx,
    logs.map((l) => l.parsed),
    participantIds,
  )
  logs.forEach((l, i) => {
    judgeStoredLog(l.parsed, stored, participantIds[i]!, l.participantNumber)
  })
  // From here on each statement is sent while the server runs the one before; the rows are built during the files'.
  const done = [await sendFilesOfBatch(ctx, logs, queue)]
  const built = logs.map((l, i) => rowsOf(l, participantIds[i]!))
  if (new Set(built.map((b) => b.log.id)).size !== built.length)
    throw new BatchSplitError('two workbooks of one batch are the same log')
  for (const table of ['processing_logs', 'knee_logs'] as const) {
    const rows = built.flatMap((b, owner) => (b.logTable === table ? [{owner, row: b.log}] : []))
    const conflict = built.find((b) => b.logTable === table)?.logConflict ?? []
    done.push(await sendOwned(ctx, {table, rows, conflict, changed}, queue))
  }
  done.push(await sendChildrenOfBatch(ctx, {logs, built, changed}, queue))
  done.push(
    await sendOwned(
      ctx,
      {
        table: 'source_imports',
        rows: logs.map((l, owner) => ({owner, row: sourceImportRow(l.workbook, ctx.runId)})),
        conflict: ['file_id', 'importer', 'parser_version', 'sha256'],
      },
      queue,
    ),
  )
  await queue.finish()
  for (const sent of done) await sent.result
  return logs.map((_, i) => ({changed: changed[i]!, participantId: participantIds[i]!}))
}

/** The workbooks and the files they reference, as upsertFiles writes them for each workbook. */
async function sendFilesOfBatch(
  ctx: UnitContext,
  logs: readonly BatchedLog[],
  queue: StatementQueue,
): Promise<Sent<void>> {
  const roots = new Map(logs.map((l) => [path.resolve(l.root), importRootId(path.resolve(l.root))]))
  const rootsSent = await sendUpsertRows(
    {
      db: ctx.trx,
      table: 'import_roots',
      rows: [...roots].map(([root, id]) => ({id, path: root})),
      conflict: ['path'],
    },
    queue,
  )
  const rows = logs.flatMap((l, owner) => {
    // Within one workbook a file named twice is written once, as upsertFiles does.
    const unique = new Map([l.workbook, ...l.references].map((r) => [r.rel_path, r]))
    return [...unique.values()].map((r) => ({owner, row: {...r, run_id: ctx.runId} as Row}))
  })
  const filesSent = await sendOwned(
    ctx,
    {table: 'files', rows, conflict: ['root_id', 'rel_path'], compare: FILE_COMPARE_COLUMNS},
    queue,
  )
  return {result: quiet(Promise.all([rootsSent.result, filesSent.result]).then(() => {}))}
}

/** Studies and participants, then the participants' stored ids (move-participant keeps an id across studies). */
async function writeParticipantsOfBatch(
  ctx: UnitContext,
  logs: readonly BatchedLog[],
  changed: boolean[],
  queue: StatementQueue,
): Promise<string[]> {
  const owners = logs.map((l) => studyAndParticipantRows(l.study, l.participantNumber, ctx.runId))
  const studies = owners.map((o, owner) => ({owner, row: o.study}))
  const sent = [await sendOwned(ctx, {table: 'studies', rows: studies, conflict: ['name'], changed}, queue)]
  const participants = owners.map((o, owner) => ({owner, row: o.participant}))
  sent.push(
    await sendOwned(
      ctx,
      {table: 'participants', rows: participants, conflict: ['study_id', 'participant_number'], changed},
      queue,
    ),
  )
  await queue.finish()
  for (const s of sent) await s.result
  const stored = await ctx.trx
    .selectFrom('participants')
    .select(['id', 'study_id', 'participant_number'])
    .where('participant_number', 'in', [...new Set(logs.map((l) => l.participantNumber))])
    .execute()
  const idOf = new Map(stored.map((p) => [`${p.study_id}|${p.participant_number}`, p.id]))
  return owners.map((o) => {
    const id = idOf.get(`${o.study.id}|${o.participant.participant_number}`)
    if (id === undefined) throw new Error(`participant ${o.participant.participant_number} was not written`)
    return id
  })
}

interface BatchRows {
  logs: readonly BatchedLog[]
  built: readonly LogRows[]
  changed: boolean[]
}

/** Every child table of the batch's logs: one upsert per table, then one delete of the rows no longer there. */
async function sendChildrenOfBatch(
  ctx: UnitContext,
  batch: BatchRows,
  queue: StatementQueue,
): Promise<Sent<void>> {
  const {logs, built, changed} = batch
  const tables = new Map<
    TableName,
    {parentColumn: string; conflict: string[]; owners: number[]; rows: Owned[]}
  >()
  built.forEach((b, owner) => {
    for (const {spec, rows} of b.children) {
      const entry = tables.get(spec.table) ?? {
        parentColumn: spec.parentColumn,
        conflict: [spec.parentColumn, ...spec.keyColumns],
        owners: [],
        rows: [],
      }
      tables.set(spec.table, entry)
      entry.owners.push(owner)
      for (const row of rows) entry.rows.push({owner, row})
    }
  })
  const sent: Array<Promise<unknown>> = []
  const deletes: Array<Promise<Map<string, number>>> = []
  for (const [table, entry] of tables) {
    sent.push(
      (await sendOwned(ctx, {table, rows: entry.rows, conflict: entry.conflict, changed}, queue)).result,
    )
    const removed = await sendDeleteStaleRowsOfMany(
      {
        db: ctx.trx,
        table,
        parentColumn: entry.parentColumn,
        parents: entry.owners.map((owner) => built[owner]!.log.id),
        keepIds: entry.rows.map((r) => r.row.id),
      },
      queue,
    )
    deletes.push(removed.result)
  }
  const counted = Promise.all([Promise.all(sent), Promise.all(deletes)]).then(([, removedOf]) => {
    const removedBy = logs.map(() => [] as Array<[TableName, number]>)
    ;[...tables].forEach(([table, entry], i) => {
      const removed = removedOf[i]!
      ctx.count(table, deletedCounts([...removed.values()].reduce((a, b) => a + b, 0)))
      for (const owner of entry.owners) {
        const n = removed.get(built[owner]!.log.id) ?? 0
        if (n > 0) removedBy[owner]!.push([table, n])
      }
    })
    // Warnings in the order writeLog gives them: workbook by workbook, table by table.
    removedBy.forEach((list, owner) => {
      for (const [table, n] of list) {
        changed[owner] = true
        ctx.warn(rowsRemovedWarning(logs[owner]!.parsed.file, table, n))
      }
    })
  })
  return {result: quiet(counted)}
}

interface UpsertOwnedProps {
  table: TableName
  rows: readonly Owned[]
  conflict: readonly string[]
  compare?: readonly string[]
  /** Marks the workbooks whose rows were inserted or updated (left out for files and source_imports). */
  changed?: boolean[]
}

/**
 * Upserts the rows of many workbooks: a row two workbooks both give (their study, a file both reference) is written
 * once and counted unchanged for the later one, as writing them in turn would; rows of different column sets (logs of
 * different layouts) go in separate statements, so that a column a layout lacks is left as it is. Resolves once its
 * statements are sent; the counts are taken when their results come.
 */
async function sendOwned(
  ctx: UnitContext,
  props: UpsertOwnedProps,
  queue: StatementQueue,
): Promise<Sent<void>> {
  const {first, duplicates} = firstOfEachKey(props.table, props.rows, props.conflict)
  const groups = new Map<string, Owned[]>()
  for (const owned of first) {
    const columns = Object.keys(owned.row).join(',')
    const group = groups.get(columns)
    if (group) group.push(owned)
    else groups.set(columns, [owned])
  }
  const counted: Array<Promise<void>> = []
  for (const group of groups.values()) {
    const sent = await sendUpsertRows(
      {
        db: ctx.trx,
        table: props.table,
        rows: group.map((o) => o.row),
        conflict: props.conflict,
        ...(props.compare ? {compare: props.compare} : {}),
      },
      queue,
    )
    counted.push(sent.result.then((outcome) => countOwned(ctx, props, group, outcome)))
  }
  if (duplicates > 0) ctx.count(props.table, {inserted: 0, updated: 0, unchanged: duplicates, deleted: 0})
  return {result: quiet(Promise.all(counted).then(() => {}))}
}

function countOwned(
  ctx: UnitContext,
  props: UpsertOwnedProps,
  group: readonly Owned[],
  outcome: UpsertOutcome,
) {
  ctx.count(props.table, outcome.counts)
  if (!props.changed) return
  for (const o of group) {
    if (outcome.inserted.has(o.row.id) || outcome.updated.has(o.row.id)) props.changed[o.owner] = true
  }
}

function firstOfEachKey(
  table: TableName,
  rows: readonly Owned[],
  conflict: readonly string[],
): {first: Owned[]; duplicates: number} {
  const seen = new Map<string, Row>()
  const first: Owned[] = []
  let duplicates = 0
  for (const owned of rows) {
    const key =
      conflict.length === 1
        ? String(owned.row[conflict[0]!])
        : JSON.stringify(conflict.map((c) => owned.row[c] ?? null))
    const earlier = seen.get(key)
    if (earlier === undefined) {
      seen.set(key, owned.row)
      first.push(owned)
    } else if (JSON.stringify(earlier) === JSON.stringify(owned.row)) {
      duplicates++
    } else {
      throw new BatchSplitError(`two workbooks of one batch give different ${table} rows for ${key}`)
    }
  }
  return {first, duplicates}
}
