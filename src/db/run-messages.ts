import type {Kysely} from 'kysely'
import type {Database} from './schema.js'

export interface RunMessage {
  kind: 'rejected' | 'warning'
  file: string
  sheet: string | null
  row: number | null
  column: string | null
  code: string
  message: string
}

interface MessageSource {
  file: string
  sheet?: string | null
  row?: number | null
  column?: string | null
  code: string
  message: string
}

// Bounded so a run that warned about every one of a million rows cannot make its own bookkeeping the slow part.
const BATCH = 1000

/** Stores what a finished run rejected and warned about, in the order it met them, for `aedb runs show`. */
export async function saveRunMessages(
  db: Kysely<Database>,
  runId: string,
  rejected: readonly MessageSource[],
  warnings: readonly MessageSource[],
): Promise<void> {
  const rows = [
    ...rejected.map((m) => toRow('rejected', m)),
    ...warnings.map((m) => toRow('warning', m)),
  ].map((m, position) => ({...m, run_id: runId, position}))
  for (let start = 0; start < rows.length; start += BATCH) {
    await db
      .insertInto('run_messages')
      .values(rows.slice(start, start + BATCH))
      .execute()
  }
}

export async function readRunMessages(db: Kysely<Database>, runId: string): Promise<RunMessage[]> {
  return db
    .selectFrom('run_messages')
    .select(['kind', 'file', 'sheet', 'row', 'column', 'code', 'message'])
    .where('run_id', '=', runId)
    .orderBy('position')
    .execute() as Promise<RunMessage[]>
}

function toRow(kind: RunMessage['kind'], m: MessageSource): RunMessage {
  return {
    kind,
    file: m.file,
    sheet: m.sheet ?? null,
    row: m.row ?? null,
    column: m.column ?? null,
    code: m.code,
    message: m.message,
  }
}
