/**
 * The database-write stage of backfill-excel alone: every workbook of a corpus read, parsed and described first
 * (untimed), then written by writeLogBatch as one batch in one transaction (timed), the way the importer writes a
 * batch. Prints one JSON object: seconds, rows written to the tables the `\copy` reference loads, and the seconds
 * of building the rows alone (ids, content hashes), which the timed write includes.
 *
 *   node --import tsx bench/write-stage.ts <corpus dir> <database url> [batch|sequential]
 *
 * `sequential` writes each workbook in its own transaction with writeLog (the path before batches), to compare.
 * On PostgreSQL the server CPU of the writing backend (from /proc, local server only) is reported too.
 */

import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {sql} from 'kysely'
import {openDatabase} from '../src/db/connection.js'
import {parseDatabaseUrl} from '../src/db/database-url.js'
import {deterministicId} from '../src/db/deterministic-id.js'
import {FileCatalog, type FileRecord} from '../src/files/file-catalog.js'
import {discoverWorkbooks} from '../src/importers/excel/discover-workbooks.js'
import {unpackRecords} from '../src/importers/excel/packed-records.js'
import type {ParsedLog} from '../src/importers/excel/parse-log.js'
import {readAndParse} from '../src/importers/excel/read-and-parse.js'
import {buildReferenceIndex, resolveReference} from '../src/importers/excel/resolve-references.js'
import {buildLogRows, type LogRows, writeLog} from '../src/importers/excel/write-log.js'
import {type BatchedLog, writeLogBatch} from '../src/importers/excel/write-log-batch.js'
import {ImportSession} from '../src/importers/import-session.js'
import {COPY_TABLES} from './lib/copy-reference.js'

async function prepare(corpus: string, db: Parameters<typeof FileCatalog.prototype.load>[0]) {
  const [root] = await discoverWorkbooks([corpus], [])
  if (!root) throw new Error(`no workbooks under ${corpus}`)
  const catalog = new FileCatalog(root.root, () => {})
  await catalog.load(db)
  const index = buildReferenceIndex(root.allFiles)
  const logs: BatchedLog[] = []
  for (const file of root.workbooks) {
    const absolute = catalog.resolveInside(file)
    const outcome = await readAndParse({
      absolute,
      options: {file, absolutePath: absolute, coerceInvalid: false},
    })
    if (outcome.kind !== 'parsed' || !outcome.result.parsed) throw new Error(`${file} did not parse`)
    const parsed: ParsedLog = outcome.result.parsed
    if (outcome.packed) unpackRecords(parsed, outcome.packed)
    const references: FileRecord[] = []
    for (const ref of parsed.references) {
      const resolved = resolveReference(ref.value, path.posix.dirname(file), index, ref.defaultDir)
      references.push(await catalog.describe(resolved.relPath, ref.kind, {probe: false}))
    }
    logs.push({
      parsed,
      study: 'AOA',
      participantNumber: parsed.participantNumber!,
      root: root.root,
      workbook: await catalog.describe(file, 'workbook', {probe: false}),
      references,
    })
  }
  return logs
}

const RUN = '00000000-0000-0000-0000-000000000000'

/** The prebuilt rows with the run's id in place of the placeholder (run_id is not part of a content hash). */
function withRun(rows: LogRows, runId: string): LogRows {
  rows.log.run_id = runId
  for (const child of rows.children) for (const row of child.rows) row.run_id = runId
  return rows
}

/** CPU seconds of this connection's server process (PostgreSQL on this machine), or null. */
async function backendCpu(db: Parameters<typeof FileCatalog.prototype.load>[0]): Promise<number | null> {
  const pid = (await sql<{pid: number}>`select pg_backend_pid() as pid`.execute(db)).rows[0]?.pid
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
  if (!stat) return null
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function main(corpus: string, url: string, mode: string): Promise<void> {
  const target = parseDatabaseUrl(url, '--database-url')
  const open = await openDatabase(target, {poolSize: 1})
  try {
    const logs = await prepare(corpus, open.db)
    // Rows built first, untimed (ids, content hashes): the timed write is the database stage alone.
    const buildStarted = performance.now()
    const built = new Map(
      logs.map((l) => {
        const participantId = deterministicId('participant', l.study, l.participantNumber)
        return [l, {participantId, rows: buildLogRows(l.parsed, participantId, l.workbook.id, RUN)}]
      }),
    )
    const buildSeconds = (performance.now() - buildStarted) / 1000
    const session = await ImportSession.start({
      db: open.db,
      command: 'backfill-excel',
      argv: [],
      version: 'bench',
      dryRun: false,
    })
    const serverBefore = target.backend === 'postgres' ? await backendCpu(open.db) : null
    const started = performance.now()
    const cpuBefore = process.cpuUsage()
    if (mode === 'sequential') {
      for (const l of logs) await session.unit((ctx) => writeLog({ctx, ...l}))
    } else {
      await session.unit((ctx) =>
        writeLogBatch(ctx, logs, (l, participantId) => {
          const prebuilt = built.get(l)!
          if (prebuilt.participantId !== participantId)
            throw new Error('participant id differs from the prebuilt one')
          return withRun(prebuilt.rows, ctx.runId)
        }),
      )
    }
    const seconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    const clientCpu = (cpu.user + cpu.system) / 1e6
    const serverAfter = serverBefore === null ? null : await backendCpu(open.db)
    const serverCpu = serverBefore === null || serverAfter === null ? null : serverAfter - serverBefore
    const result = await session.finish()
    const rows = COPY_TABLES.reduce((n, t) => n + (result.tables[t]?.inserted ?? 0), 0)
    process.stdout.write(
      `${JSON.stringify({mode, workbooks: logs.length, rows, seconds, buildSeconds, clientCpu, serverCpu})}\n`,
    )
  } finally {
    await open.close()
  }
}

const [corpus, url, mode = 'batch'] = process.argv.slice(2)
if (!corpus || !url) throw new Error('usage: write-stage.ts <corpus dir> <database url> [batch|sequential]')
await main(corpus, url, mode)
