import path from 'node:path'
import type {TableName} from '../../db/schema.js'
import {deletedCounts, deleteStaleRowsOfMany, upsertRows, upsertRowsReporting} from '../../db/upsert-rows.js'
import {FILE_COMPARE_COLUMNS, importRootId} from '../../files/file-catalog.js'
import type {UnitContext} from '../import-session.js'
import {
  buildLogRows,
  everyWrittenColumn,
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
  const changed = logs.map(() => false)
  await writeFilesOfBatch(ctx, logs)
  const participantIds = await writeParticipantsOfBatch(ctx, logs, changed)
  const stored = await storedLogs(
    ctx.trx,
    logs.map((l) => l.parsed),
    participantIds,
  )
  logs.forEach((l, i) => {
    judgeStoredLog(l.parsed, stored, participantIds[i]!, l.participantNumber)
  })
  const built = logs.map((l, i) => rowsOf(l, participantIds[i]!))
  if (new Set(built.map((b) => b.log.id)).size !== built.length)
    throw new BatchSplitError('two workbooks of one batch are the same log')
  for (const table of ['processing_logs', 'knee_logs'] as const) {
    const rows = built.flatMap((b, owner) => (b.logTable === table ? [{owner, row: b.log}] : []))
    const conflict = built.find((b) => b.logTable === table)?.logConflict ?? []
    const restore = logs.some((l) => l.restoreEdited)
    await upsertOwned(ctx, {table, rows, conflict, changed, restoreEdited: restore})
  }
  await writeChildrenOfBatch(ctx, logs, built, changed)
  await upsertOwned(ctx, {
    table: 'source_imports',
    rows: logs.map((l, owner) => ({owner, row: sourceImportRow(l.workbook, ctx.runId)})),
    conflict: ['file_id', 'importer', 'parser_version', 'sha256'],
  })
  return logs.map((_, i) => ({changed: changed[i]!, participantId: participantIds[i]!}))
}

/** The workbooks and the files they reference, as upsertFiles writes them for each workbook. */
async function writeFilesOfBatch(ctx: UnitContext, logs: readonly BatchedLog[]): Promise<void> {
  const roots = new Map(logs.map((l) => [path.resolve(l.root), importRootId(path.resolve(l.root))]))
  await upsertRows({
    db: ctx.trx,
    table: 'import_roots',
    rows: [...roots].map(([root, id]) => ({id, path: root})),
    conflict: ['path'],
  })
  const rows = logs.flatMap((l, owner) => {
    // Within one workbook a file named twice is written once, as upsertFiles does.
    const unique = new Map([l.workbook, ...l.references].map((r) => [r.rel_path, r]))
    return [...unique.values()].map((r) => ({owner, row: {...r, run_id: ctx.runId} as Row}))
  })
  await upsertOwned(ctx, {
    table: 'files',
    rows,
    conflict: ['root_id', 'rel_path'],
    compare: FILE_COMPARE_COLUMNS,
  })
}

/** Studies and participants, then the participants' stored ids (move-participant keeps an id across studies). */
async function writeParticipantsOfBatch(
  ctx: UnitContext,
  logs: readonly BatchedLog[],
  changed: boolean[],
): Promise<string[]> {
  const owners = logs.map((l) => studyAndParticipantRows(l.study, l.participantNumber, ctx.runId))
  const studies = owners.map((o, owner) => ({owner, row: o.study}))
  await upsertOwned(ctx, {table: 'studies', rows: studies, conflict: ['name'], changed})
  const participants = owners.map((o, owner) => ({owner, row: o.participant}))
  await upsertOwned(ctx, {
    table: 'participants',
    rows: participants,
    conflict: ['study_id', 'participant_number'],
    changed,
  })
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

/** Every child table of the batch's logs: one upsert per table, then one delete of the rows no longer there. */
async function writeChildrenOfBatch(
  ctx: UnitContext,
  logs: readonly BatchedLog[],
  built: readonly LogRows[],
  changed: boolean[],
): Promise<void> {
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
  const removedBy = logs.map(() => [] as Array<[TableName, number]>)
  for (const [table, entry] of tables) {
    await upsertOwned(ctx, {
      table,
      rows: entry.rows,
      conflict: entry.conflict,
      changed,
      restoreEdited: logs.some((l) => l.restoreEdited),
    })
    const removed = await deleteStaleRowsOfMany({
      db: ctx.trx,
      table,
      parentColumn: entry.parentColumn,
      parents: entry.owners.map((owner) => built[owner]!.log.id),
      keepIds: entry.rows.map((r) => r.row.id),
    })
    ctx.count(table, deletedCounts([...removed.values()].reduce((a, b) => a + b, 0)))
    for (const owner of entry.owners) {
      const n = removed.get(built[owner]!.log.id) ?? 0
      if (n > 0) removedBy[owner]!.push([table, n])
    }
  }
  // Warnings in the order writeLog gives them: workbook by workbook, table by table.
  removedBy.forEach((list, owner) => {
    for (const [table, n] of list) {
      changed[owner] = true
      ctx.warn(rowsRemovedWarning(logs[owner]!.parsed.file, table, n))
    }
  })
}

interface UpsertOwnedProps {
  table: TableName
  rows: readonly Owned[]
  conflict: readonly string[]
  compare?: readonly string[]
  /** Compare every written column (of each group's column set), to write back rows edited outside aedb. */
  restoreEdited?: boolean
  /** Marks the workbooks whose rows were inserted or updated (left out for files and source_imports). */
  changed?: boolean[]
}

/**
 * Upserts the rows of many workbooks: a row two workbooks both give (their study, a file both reference) is written
 * once and counted unchanged for the later one, as writing them in turn would; rows of different column sets (logs of
 * different layouts) go in separate statements, so that a column a layout lacks is left as it is.
 */
async function upsertOwned(ctx: UnitContext, props: UpsertOwnedProps): Promise<void> {
  const {first, duplicates} = firstOfEachKey(props.table, props.rows, props.conflict)
  const groups = new Map<string, Owned[]>()
  for (const owned of first) {
    const columns = Object.keys(owned.row).join(',')
    const group = groups.get(columns)
    if (group) group.push(owned)
    else groups.set(columns, [owned])
  }
  for (const group of groups.values()) {
    const outcome = await upsertRowsReporting({
      db: ctx.trx,
      table: props.table,
      rows: group.map((o) => o.row),
      conflict: props.conflict,
      ...(props.compare ? {compare: props.compare} : {}),
      ...(props.restoreEdited ? {compare: everyWrittenColumn(group[0]!.row, props.conflict)} : {}),
    })
    ctx.count(props.table, outcome.counts)
    if (!props.changed) continue
    for (const o of group) {
      if (outcome.inserted.has(o.row.id) || outcome.updated.has(o.row.id)) props.changed[o.owner] = true
    }
  }
  if (duplicates > 0) ctx.count(props.table, {inserted: 0, updated: 0, unchanged: duplicates, deleted: 0})
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
