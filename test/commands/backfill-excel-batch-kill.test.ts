import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {type Kysely, sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {generateCorpus} from '../../bench/generate-corpus.js'
import type {Database} from '../../src/db/schema.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {snapshotData} from '../support/db-snapshot.js'
import {runCli} from '../support/run-cli.js'

const LOGS = 150

/** Per workbook: its log's id and how many rows each child table holds under it, and whether it was imported. */
async function workbookStates(db: Kysely<Database>): Promise<Map<string, string>> {
  const {rows} = await sql<{rel_path: string; state: string}>`
    select f.rel_path, json_build_array(
      pl.id,
      (select count(*) from audio_processing x where x.processing_log_id = pl.id),
      (select count(*) from biomechanics_imports x where x.processing_log_id = pl.id),
      (select count(*) from synchronizations x where x.processing_log_id = pl.id),
      (select count(*) from cycle_extraction_summaries x where x.processing_log_id = pl.id),
      (select count(*) from movement_cycles x where x.processing_log_id = pl.id),
      exists (select 1 from source_imports si where si.file_id = f.id)
    )::text as state
    from files f left join processing_logs pl on pl.source_file_id = f.id
    where f.kind = 'workbook'`.execute(db)
  return new Map(rows.map((r) => [r.rel_path, r.state]))
}

/** Rows of each audited table against its audit inserts: a half-written batch would leave them apart. */
async function auditGaps(db: Kysely<Database>): Promise<Record<string, number>> {
  const gaps: Record<string, number> = {}
  for (const table of ['processing_logs', 'movement_cycles', 'synchronizations', 'files', 'source_imports']) {
    const {rows} = await sql<{gap: number}>`select
      (select count(*) from ${sql.table(table)})::int
      - (select count(*) from audit_log where table_name = ${table} and operation = 'insert')::int as gap`.execute(
      db,
    )
    gaps[table] = rows[0]!.gap
  }
  return gaps
}

describe.runIf(testBackends().includes('postgres'))(
  'backfill-excel killed during a batched write (postgres)',
  () => {
    let corpusRoot: string
    let corpus: string
    let reference: TestDatabase
    let referenceStates: Map<string, string>
    let referenceData: Record<string, unknown[]>

    beforeAll(async () => {
      corpusRoot = await mkdtemp(path.join(tmpdir(), 'aedb-kill-corpus-'))
      corpus = (await generateCorpus({count: LOGS, outDir: corpusRoot})).dir
      reference = await createTestDatabase('postgres')
      const clean = await runCli([
        'backfill-excel',
        corpus,
        '--study',
        'AOA',
        '--json',
        '--database-url',
        reference.url,
      ])
      expect(clean.exitCode, clean.stderr).toBe(0)
      const open = await reference.open()
      referenceStates = await workbookStates(open.db)
      referenceData = await snapshotData(open.db)
      await open.close()
    }, 600_000)

    afterAll(async () => {
      await reference?.drop()
      if (corpusRoot) await rm(corpusRoot, {recursive: true, force: true})
    })

    it('leaves every workbook fully imported or not at all, and a re-run completes it', async () => {
      const db = await createTestDatabase('postgres')
      try {
        const watcher = await db.open()
        const name = new URL(db.url).pathname.slice(1)
        // Kill while a batch's transaction has written rows and not committed, after some batches did commit.
        const midBatch = async () => {
          const {rows} = await sql<{committed: number; writing: number}>`select
          (select count(*) from processing_logs)::int as committed,
          (select count(*) from pg_stat_activity where datname = ${name} and backend_xid is not null)::int as writing`.execute(
            watcher.db,
          )
          return rows[0]!.committed >= 3 && rows[0]!.writing > 0
        }
        const killed = await runCli(['backfill-excel', corpus, '--study', 'AOA', '--database-url', db.url], {
          killWhen: midBatch,
        })
        expect(killed.exitCode).toBe(137)
        const states = await workbookStates(watcher.db)
        const imported = [...states].filter(([, state]) => !state.startsWith('[null'))
        expect(imported.length).toBeGreaterThan(0)
        expect(imported.length).toBeLessThan(LOGS)
        for (const [file, state] of states) {
          // Not imported at all: no log, no children, no source_imports (its files row may come from no batch at all).
          if (state.startsWith('[null')) expect(state, file).toBe('[null, 0, 0, 0, 0, 0, false]')
          else expect(state, file).toBe(referenceStates.get(file))
        }
        expect(Object.values(await auditGaps(watcher.db))).toEqual([0, 0, 0, 0, 0])
        await watcher.close()
        const again = await runCli([
          'backfill-excel',
          corpus,
          '--study',
          'AOA',
          '--json',
          '--database-url',
          db.url,
        ])
        expect(again.exitCode, again.stderr).toBe(0)
        const reopened = await db.open()
        expect(await snapshotData(reopened.db)).toEqual(referenceData)
        await reopened.close()
      } finally {
        await db.drop()
      }
    }, 600_000)
  },
)
