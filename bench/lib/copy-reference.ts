/** The `psql \\copy` reference: the rows an import wrote, exported to CSV and loaded again into bare tables. */
import {mkdir, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {BENCH_OUT} from '../generate-corpus.js'
import {psql, psqlValue, type ServerOptions, scratchDatabase, scratchPath} from './postgres.js'
import {type Sample, timed} from './statistics.js'

/** The tables whose rows an import of maneuver logs creates, and that the \copy reference loads. */
export const COPY_TABLES = [
  'studies',
  'participants',
  'files',
  'processing_logs',
  'audio_processing',
  'biomechanics_imports',
  'synchronizations',
  'cycle_extraction_summaries',
  'movement_cycles',
] as const

export async function rowCounts(
  opts: ServerOptions,
  database: string,
  schema = 'public',
): Promise<Record<string, number>> {
  const query = COPY_TABLES.map((t) => `select '${t}', count(*) from ${schema}.${t}`).join(' union all ')
  const text = await psqlValue(opts, database, query)
  return Object.fromEntries(
    text
      .split('\n')
      .map((line) => line.split('|'))
      .map(([t, n]) => [t!, Number(n)]),
  )
}

export interface CopyVariant {
  variant: 'bare' | 'schema'
  description: string
  schema: string
  script: string
  samples: Sample[]
}

export interface CopyTarget {
  database: string
  csvBytes: number
  variants: CopyVariant[]
}

/**
 * The reference: export every imported table's rows (all columns) from `sourceDb` to CSV with `psql \copy ... to`,
 * and prepare a database to load them into: a migrated one (from the same template) with a schema `bare` of
 * `create table x (like public.x)` copies (the same columns and NOT NULLs; no indexes, constraints, triggers or
 * foreign keys).
 */
export async function prepareCopy(
  opts: ServerOptions,
  sourceDb: string,
  template: string,
): Promise<CopyTarget> {
  const csvDir = await scratchPath(path.join(BENCH_OUT, `copy-csv-${process.pid}`))
  await mkdir(csvDir, {recursive: true})
  const csv = (table: string) => path.join(csvDir, `${table}.csv`)
  const q = (file: string) => `'${file.replaceAll("'", "''")}'`
  const exportScript = COPY_TABLES.map(
    (t) => `\\copy (select * from ${t}) to ${q(csv(t))} with (format csv, header)`,
  ).join('\n')
  await writeFile(path.join(csvDir, 'export.sql'), `${exportScript}\n`)
  await psql(opts, sourceDb, ['-f', path.join(csvDir, 'export.sql')])
  let csvBytes = 0
  for (const t of COPY_TABLES) csvBytes += (await stat(csv(t))).size

  const database = await scratchDatabase(opts, 'aedb_bench_copy')
  await psql(opts, 'postgres', ['-c', `create database ${database} template ${template}`])
  await psql(opts, database, [
    '-c',
    `create schema bare; ${COPY_TABLES.map((t) => `create table bare.${t} (like public.${t})`).join('; ')}`,
  ])
  const variants: CopyVariant[] = []
  for (const v of [
    {
      variant: 'bare' as const,
      description:
        'psql \\copy into `create table x (like public.x)` tables: no indexes, constraints, triggers or foreign keys',
      schema: 'bare',
      preamble: '',
    },
    {
      variant: 'schema' as const,
      description:
        'psql \\copy into the migrated schema with triggers off (session_replication_role = replica: no audit/updated_at triggers, no foreign-key checks); primary keys, unique indexes and CHECKs on',
      schema: 'public',
      preamble: 'set session_replication_role = replica;',
    },
  ]) {
    const load = [
      v.preamble,
      ...COPY_TABLES.map((t) => `\\copy ${v.schema}.${t} from ${q(csv(t))} with (format csv, header)`),
    ].join('\n')
    const script = path.join(csvDir, `load-${v.variant}.sql`)
    await writeFile(script, `${load}\n`)
    variants.push({variant: v.variant, description: v.description, schema: v.schema, script, samples: []})
  }
  return {database, csvBytes, variants}
}

/** One timed `psql -f load.sql` into emptied tables, then a check that every row arrived. */
export async function copyOnce(
  opts: ServerOptions,
  target: CopyTarget,
  v: CopyVariant,
  expected: Record<string, number>,
  postmaster: number | null,
): Promise<Sample> {
  await psql(opts, target.database, [
    '-c',
    `truncate ${COPY_TABLES.map((t) => `${v.schema}.${t}`).join(', ')} cascade`,
  ])
  const sample = await timed(opts, postmaster, () => psql(opts, target.database, ['-f', v.script]))
  const loaded = await rowCounts(opts, target.database, v.schema)
  if (COPY_TABLES.some((t) => loaded[t] !== expected[t])) {
    throw new Error(`\\copy loaded ${JSON.stringify(loaded)}, the import wrote ${JSON.stringify(expected)}`)
  }
  v.samples.push(sample)
  return sample
}
