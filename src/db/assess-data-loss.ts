import {type Kysely, sql} from 'kysely'
import {AedbError, EXIT} from '../errors.js'

/** Rows a down migration would destroy or rewrite. */
export interface DataLoss {
  migration: string
  table: string
  action: 'drop table' | 'drop column' | 'delete' | 'update'
  column: string | null
  rows: number
}

// biome-ignore lint/suspicious/noExplicitAny: the schema of the migration's own day, not today's types.
type AnyDb = Kysely<any>

const IDENT = String.raw`("?[\w.]+"?)`
const PATTERNS: Array<{action: DataLoss['action']; re: RegExp}> = [
  {action: 'drop table', re: new RegExp(`^drop table (?:if exists )?${IDENT}`, 'is')},
  {
    action: 'drop column',
    re: new RegExp(`^alter table (?:if exists )?${IDENT} drop column (?:if exists )?${IDENT}`, 'is'),
  },
  {action: 'delete', re: new RegExp(`^delete from ${IDENT}(?: where (.*))?$`, 'is')},
  {action: 'update', re: new RegExp(`^update ${IDENT} set .*? where (.*)$`, 'is')},
]

/**
 * Tables that hold only what aedb re-creates by itself: the schema fingerprint is recorded again after every
 * migration run, so dropping it loses nothing a user could miss.
 */
const REBUILT_BY_AEDB = new Set(['verify_schema_fingerprints'])

/**
 * What the given down statements (as recorded by recordMigrationSql) would destroy in this database, counted
 * now: a dropped table's rows, a dropped column's non-null values, the rows a delete or update matches.
 * Only statements that touch rows are counted; tables, columns and rows that do not exist count nothing.
 */
export async function assessDataLoss(
  db: AnyDb,
  migration: string,
  statements: readonly string[],
): Promise<DataLoss[]> {
  const losses: DataLoss[] = []
  for (const statement of statements) {
    for (const {action, re} of PATTERNS) {
      const match = re.exec(statement.trim())
      if (!match) continue
      const table = match[1]!
      if (!(await relationExists(db, table))) break
      const column = action === 'drop column' ? match[2]! : null
      const where =
        action === 'drop column'
          ? `${column} is not null`
          : action === 'drop table'
            ? null
            : (match[2] ?? null)
      if (REBUILT_BY_AEDB.has(unquote(table))) break
      const rows = await countRows(db, table, where)
      if (rows > 0)
        losses.push({migration, table: unquote(table), action, column: column && unquote(column), rows})
      break
    }
  }
  return losses
}

async function relationExists(db: AnyDb, table: string): Promise<boolean> {
  const {rows} = await sql<{name: string | null}>`select to_regclass(${table})::text as name`.execute(db)
  return Boolean(rows[0]?.name)
}

async function countRows(db: AnyDb, table: string, where: string | null): Promise<number> {
  // The text comes from aedb's own migrations (recorded SQL), never from user input.
  const query = `select count(*)::int as n from ${table}${where ? ` where ${where}` : ''}`
  try {
    const {rows} = await sql<{n: number}>`${sql.raw(query)}`.execute(db)
    return Number(rows[0]?.n ?? 0)
  } catch {
    return 0 // e.g. a dropped column that is already gone
  }
}

function unquote(name: string): string {
  return name.replaceAll('"', '')
}

export function describeDataLoss(loss: DataLoss): string {
  const rows = `${loss.rows} row${loss.rows === 1 ? '' : 's'}`
  switch (loss.action) {
    case 'drop table':
      return `drop table ${loss.table} (${rows})`
    case 'drop column':
      return `drop column ${loss.table}.${loss.column} (${rows} with a value)`
    case 'delete':
      return `delete ${rows} from ${loss.table}`
    case 'update':
      return `rewrite ${rows} of ${loss.table}`
  }
}

/** Thrown by `migrate down` without --force when reverting would destroy rows. */
export function dataLossError(losses: readonly DataLoss[]): AedbError {
  const total = losses.reduce((n, l) => n + l.rows, 0)
  return new AedbError(
    `Refusing to revert: it would ${losses.map(describeDataLoss).join(', ')} (${total} rows in all). Nothing was changed.`,
    {
      code: 'MIGRATION_DOWN_LOSES_DATA',
      exit: EXIT.USAGE,
      suggestions: [
        'Back the database up first, then run the same command with --force to revert anyway.',
        'See exactly what down would run with --dry-run.',
      ],
    },
  )
}
