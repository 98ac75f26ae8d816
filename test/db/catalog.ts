import {type Kysely, sql} from 'kysely'

/**
 * Everything the migrations can create in the current schema, as the server itself prints it back: relations,
 * columns, constraints (pg_get_constraintdef), indexes (pg_indexes.indexdef), triggers (pg_get_triggerdef),
 * functions, sequences and types. Two snapshots are equal when the schemas are the same.
 */
export interface CatalogSnapshot {
  relations: Record<string, unknown>[]
  columns: Record<string, unknown>[]
  constraints: Record<string, unknown>[]
  indexes: Record<string, unknown>[]
  triggers: Record<string, unknown>[]
  functions: Record<string, unknown>[]
  sequences: Record<string, unknown>[]
  types: Record<string, unknown>[]
}

// biome-ignore lint/suspicious/noExplicitAny: the catalog is read whatever tables exist.
type AnyDb = Kysely<any>

async function rows(db: AnyDb, query: ReturnType<typeof sql>): Promise<Record<string, unknown>[]> {
  const result = await query.execute(db)
  return result.rows as Record<string, unknown>[]
}

export async function snapshotCatalog(db: AnyDb): Promise<CatalogSnapshot> {
  return {
    relations: await rows(
      db,
      sql`select c.relname as name, c.relkind::text as kind, c.relpersistence::text as persistence
        from pg_class c where c.relnamespace = current_schema()::regnamespace order by 1`,
    ),
    columns: await rows(
      db,
      sql`select table_name, column_name, ordinal_position::int as position, data_type, udt_name, is_nullable,
          column_default, is_identity, identity_generation, collation_name
        from information_schema.columns where table_schema = current_schema()
        order by table_name, ordinal_position`,
    ),
    constraints: await rows(
      db,
      sql`select conrelid::regclass::text as table_name, conname as name, contype::text as type,
          pg_get_constraintdef(oid) as definition, condeferrable as deferrable
        from pg_constraint where connamespace = current_schema()::regnamespace
        order by 1, 2`,
    ),
    indexes: await rows(
      db,
      sql`select tablename as table_name, indexname as name, indexdef as definition
        from pg_indexes where schemaname = current_schema() order by 1, 2`,
    ),
    triggers: await rows(
      db,
      sql`select t.tgrelid::regclass::text as table_name, t.tgname as name, pg_get_triggerdef(t.oid) as definition,
          t.tgenabled::text as enabled
        from pg_trigger t join pg_class c on c.oid = t.tgrelid
        where c.relnamespace = current_schema()::regnamespace and not t.tgisinternal
        order by 1, 2`,
    ),
    functions: await rows(
      db,
      sql`select p.proname as name, pg_get_function_identity_arguments(p.oid) as arguments,
          pg_get_function_result(p.oid) as result, p.prokind::text as kind, p.prosrc as source
        from pg_proc p where p.pronamespace = current_schema()::regnamespace
        order by 1, 2`,
    ),
    sequences: await rows(
      db,
      sql`select sequence_name as name, data_type, start_value, increment, maximum_value
        from information_schema.sequences where sequence_schema = current_schema() order by 1`,
    ),
    types: await rows(
      db,
      sql`select t.typname as name, t.typtype::text as type
        from pg_type t where t.typnamespace = current_schema()::regnamespace order by 1`,
    ),
  }
}

/** True when the current schema holds nothing at all: no table, index, sequence, function or type. */
export function isEmptyCatalog(snapshot: CatalogSnapshot): boolean {
  return Object.values(snapshot).every((entries) => entries.length === 0)
}

export async function tableNames(db: AnyDb): Promise<string[]> {
  const result = await sql<{name: string}>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() order by 1`.execute(db)
  return result.rows.map((r) => r.name)
}
