import {type RawBuilder, sql} from 'kysely'
import {SCHEMA, type TableName} from '../db/schema.js'

/**
 * The select list of a table with every `timestamp`/`date` column cast to text: the naive wall-clock text with
 * its microseconds, the same from pg and PGlite, never a JavaScript Date that a time zone or a millisecond
 * rounding could touch.
 */
export function selectColumns(table: TableName, alias: string): RawBuilder<unknown> {
  const spec = SCHEMA[table] as Record<string, string>
  return sql.join(
    Object.entries(spec).map(([column, type]) =>
      type.startsWith('timestamp') && !type.startsWith('timestamptz')
        ? sql`${sql.ref(`${alias}.${column}`)}::text as ${sql.ref(column)}`
        : sql`${sql.ref(`${alias}.${column}`)}`,
    ),
  )
}
