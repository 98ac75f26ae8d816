import {type ControlledTransaction, type Kysely, sql, type Transaction} from 'kysely'
import {pgCode} from '../db/connection.js'
import {saveRunMessages} from '../db/run-messages.js'
import {closeAbandonedRuns, finishRun, type RunCommand, type RunOutcome, startRun} from '../db/runs.js'
import type {Database, JsonObject} from '../db/schema.js'
import type {UpsertCounts} from '../db/upsert-rows.js'

export interface Rejection {
  file: string
  sheet: string | null
  row: number | null
  column: string | null
  code: string
  message: string
}

export interface ImportWarning {
  file: string
  code: string
  message: string
}

export interface FileCounts {
  seen: number
  imported: number
  unchanged: number
  rejected: number
  skipped: number
}

/** The `--json` result of backfill-excel and import-json (one shape for both). */
export interface ImportResult {
  runId: string
  dryRun: boolean
  files: FileCounts
  tables: Record<string, UpsertCounts>
  rejected: Rejection[]
  warnings: ImportWarning[]
  /** True when the caller's signal stopped the run: what is counted was committed, a re-run does the rest. */
  interrupted: boolean
}

export interface UnitContext {
  trx: Transaction<Database> | Kysely<Database>
  runId: string
  count(table: string, counts: UpsertCounts): void
  warn(warning: ImportWarning): void
}

export interface StartImportSessionProps {
  db: Kysely<Database>
  command: RunCommand
  argv: readonly string[]
  version: string
  dryRun: boolean
  onWarning?: (warning: ImportWarning) => void
  /** Aborted to stop the run between units: the unit in flight commits or rolls back, none starts after it. */
  signal?: AbortSignal
}

const RETRYABLE = new Set(['40P01', '40001', '23505'])
const MAX_ATTEMPTS = 5

/**
 * One import run: its run row, its counts, and one all-or-nothing transaction per unit (a workbook, a recording).
 * A dry run does everything inside one outer transaction with a savepoint per unit and rolls it all back at the
 * end, run row included, so its counts are exactly those a real run would report.
 */
export class ImportSession {
  readonly files: FileCounts = {seen: 0, imported: 0, unchanged: 0, rejected: 0, skipped: 0}
  readonly tables: Record<string, UpsertCounts> = {}
  readonly rejected: Rejection[] = []
  readonly warnings: ImportWarning[] = []
  private queue: Promise<void> = Promise.resolve()

  private constructor(
    private readonly props: StartImportSessionProps,
    readonly runId: string,
    private readonly outer: ControlledTransaction<Database> | null,
  ) {}

  static async start(props: StartImportSessionProps): Promise<ImportSession> {
    if (props.dryRun) {
      const outer = await props.db.startTransaction().execute()
      try {
        const runId = await startRun({
          db: outer,
          command: props.command,
          argv: props.argv,
          version: props.version,
        })
        await setRunId(outer, runId)
        return new ImportSession(props, runId, outer)
      } catch (error) {
        await outer.rollback().execute()
        throw error
      }
    }
    await closeAbandonedRuns(props.db)
    const runId = await startRun({
      db: props.db,
      command: props.command,
      argv: props.argv,
      version: props.version,
    })
    return new ImportSession(props, runId, null)
  }

  /** True once the caller asked to stop: importers start no new unit (and read no new input) after this. */
  get stopping(): boolean {
    return this.props.signal?.aborted ?? false
  }

  get dryRun(): boolean {
    return this.outer !== null
  }

  /** The database for reads outside units (inside the dry-run transaction when there is one). */
  get db(): Kysely<Database> {
    return this.outer ?? this.props.db
  }

  /**
   * Put before every file named from now on, and before its first mention in the message: which root a relative path
   * is under, for a run over several roots taken one after the other (import-json's trees).
   */
  fileLabel = ''

  warn(warning: ImportWarning): void {
    const labelled = this.labelled(warning)
    this.warnings.push(labelled)
    this.props.onWarning?.(labelled)
  }

  reject(rejection: Rejection): void {
    this.rejected.push(this.labelled(rejection))
  }

  private labelled<T extends {file: string; message: string}>(item: T): T {
    if (this.fileLabel === '') return item
    const file = this.fileLabel + item.file
    return {...item, file, message: item.message.replace(item.file, file)}
  }

  /**
   * Runs `fn` all-or-nothing. Counts and warnings it reports count only if it commits. A deadlock, serialization
   * failure or a key another process inserted first is retried from the start: every write is an idempotent upsert.
   */
  async unit<T>(fn: (ctx: UnitContext) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const staged: {counts: Array<[string, UpsertCounts]>; warnings: ImportWarning[]} = {
        counts: [],
        warnings: [],
      }
      const ctxFor = (trx: Transaction<Database> | Kysely<Database>): UnitContext => ({
        trx,
        runId: this.runId,
        count: (table, counts) => staged.counts.push([table, counts]),
        warn: (warning) => staged.warnings.push(warning),
      })
      try {
        const value = this.outer
          ? await this.inSavepoint(this.outer, () => fn(ctxFor(this.outer!)))
          : await this.props.db.transaction().execute(async (trx) => {
              await setRunId(trx, this.runId)
              return fn(ctxFor(trx))
            })
        for (const [table, counts] of staged.counts) this.addCounts(table, counts)
        for (const warning of staged.warnings) this.warn(warning)
        return value
      } catch (error) {
        if (this.outer || attempt >= MAX_ATTEMPTS || !RETRYABLE.has(pgCode(error) ?? '')) throw error
        await new Promise((resolve) => setTimeout(resolve, 20 * attempt + Math.random() * 50))
      }
    }
  }

  private async inSavepoint<T>(outer: ControlledTransaction<Database>, fn: () => Promise<T>): Promise<T> {
    // Savepoints on one connection nest, so units of a dry run take turns.
    const previous = this.queue
    let release!: () => void
    this.queue = new Promise((resolve) => {
      release = resolve
    })
    await previous
    try {
      await sql`savepoint aedb_unit`.execute(outer)
      try {
        const value = await fn()
        await sql`release savepoint aedb_unit`.execute(outer)
        return value
      } catch (error) {
        await sql`rollback to savepoint aedb_unit`.execute(outer)
        await sql`release savepoint aedb_unit`.execute(outer)
        throw error
      }
    } finally {
      release()
    }
  }

  addCounts(table: string, counts: UpsertCounts): void {
    const total = this.tables[table] ?? {inserted: 0, updated: 0, unchanged: 0, deleted: 0}
    this.tables[table] = total
    total.inserted += counts.inserted
    total.updated += counts.updated
    total.unchanged += counts.unchanged
    total.deleted += counts.deleted
  }

  outcome(): RunOutcome {
    if (this.stopping) return 'interrupted'
    return this.rejected.length > 0 ? 'problems' : 'succeeded'
  }

  /** Records the run's end (or rolls the dry run back) and returns the result. */
  async finish(outcome: RunOutcome = this.outcome()): Promise<ImportResult> {
    const result: ImportResult = {
      runId: this.runId,
      dryRun: this.dryRun,
      files: {...this.files},
      tables: Object.fromEntries(Object.entries(this.tables).sort(([a], [b]) => a.localeCompare(b))),
      rejected: this.rejected,
      warnings: this.warnings,
      interrupted: this.stopping,
    }
    if (this.outer) {
      await this.outer.rollback().execute()
    } else {
      const counts: JsonObject = {
        files: result.files,
        tables: result.tables,
        rejected: result.rejected.length,
        warnings: result.warnings.length,
        ...(result.interrupted ? {interrupted: true} : {}),
      }
      await saveRunMessages(this.props.db, this.runId, result.rejected, result.warnings)
      await finishRun(this.props.db, this.runId, outcome, counts)
    }
    return result
  }

  /** Ends a run that failed unexpectedly: rolls back a dry run, marks a real one failed. */
  async abort(): Promise<void> {
    if (this.outer) {
      await this.outer
        .rollback()
        .execute()
        .catch(() => {})
    } else {
      await finishRun(this.props.db, this.runId, 'failed', {files: {...this.files}}).catch(() => {})
    }
  }
}

async function setRunId(db: Kysely<Database>, runId: string): Promise<void> {
  await sql`select set_config('aedb.run_id', ${runId}, true)`.execute(db)
}
