import {REPO_ROOT} from '../generate-corpus.js'
import {dropDatabase, psql, type ServerOptions, scratchDatabase, serverDb} from './postgres.js'
import {log, mustRun} from './processes.js'

export interface WriteStageResult {
  workbooks: number
  rows: number
  /** Wall seconds of writeLogBatch over every workbook in one transaction (rows built beforehand). */
  seconds: number
  /** Seconds of building the rows (ids, content hashes) beforehand, not timed in `seconds`. */
  buildSeconds: number
  rowsPerSecond: number
  /** rowsPerSecond / the rows per second of `\copy` into bare tables, measured in the same run. */
  vsCopy: number | null
  peakRssMb: number | null
}

/**
 * The database-write stage alone (bench/write-stage.ts): the corpus read and parsed first, then one batch of every
 * workbook written into a fresh database made from the migrated template.
 */
export async function measureWriteStage(
  opts: ServerOptions & {keep: boolean},
  corpusDir: string,
  template: string,
  name: string,
  copySeconds: number | null,
): Promise<WriteStageResult> {
  await scratchDatabase(opts, name)
  await psql(opts, 'postgres', ['-c', `create database ${name} template ${template}`])
  try {
    const ran = await mustRun(process.execPath, [
      '--import',
      'tsx',
      `${REPO_ROOT}bench/write-stage.ts`,
      corpusDir,
      serverDb(opts, name),
    ])
    const out = JSON.parse(ran.stdout.trim().split('\n').at(-1)!) as Omit<
      WriteStageResult,
      'rowsPerSecond' | 'vsCopy' | 'peakRssMb'
    >
    const rowsPerSecond = out.rows / out.seconds
    const vsCopy = copySeconds ? rowsPerSecond / (out.rows / copySeconds) : null
    log(
      `write stage: ${out.rows} rows of ${out.workbooks} workbooks in one batch, ${out.seconds.toFixed(2)} s (${Math.round(rowsPerSecond)} rows/s${vsCopy ? `, ${vsCopy.toFixed(2)}x \\copy` : ''})`,
    )
    return {...out, rowsPerSecond, vsCopy, peakRssMb: ran.peakRssMb}
  } finally {
    if (!opts.keep) await dropDatabase(opts, name)
  }
}
