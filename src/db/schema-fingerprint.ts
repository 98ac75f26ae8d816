import {createHash} from 'node:crypto'
import {type Kysely, sql} from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: the catalog is read whatever tables exist (also mid-migration).
type AnyDb = Kysely<any>

/** Every schema object by a name a person can act on ("column files.size_bytes"), with its definition. */
export type SchemaObjects = Record<string, string>

export interface SchemaFingerprint {
  sha256: string
  objects: SchemaObjects
}

export interface SchemaDrift {
  object: string
  change: 'added' | 'missing' | 'changed'
  recorded: string | null
  live: string | null
}

const FINGERPRINT_TABLE = 'verify_schema_fingerprints'

/**
 * The live catalog of the current schema as the server prints it back (the same queries on PGlite and
 * PostgreSQL): tables, columns with type, nullability and default, constraints, indexes, triggers (with their
 * enabled state) and functions (with their source).
 */
export async function readSchemaFingerprint(db: AnyDb): Promise<SchemaFingerprint> {
  const objects: SchemaObjects = {}
  const add = (rows: Array<{name: string; definition: string | null}>) => {
    for (const r of rows) objects[r.name] = r.definition ?? ''
  }
  add(
    await rows(
      db,
      sql`select 'table ' || c.relname as name, c.relkind::text as definition
        from pg_class c where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'v', 'm', 'p')`,
    ),
  )
  add(
    await rows(
      db,
      sql`select 'column ' || table_name || '.' || column_name as name,
          udt_name || case when is_nullable = 'NO' then ' not null' else '' end
          || coalesce(' default ' || column_default, '')
          || case when is_identity = 'YES' then ' identity ' || coalesce(identity_generation, '') else '' end as definition
        from information_schema.columns where table_schema = current_schema()`,
    ),
  )
  add(
    await rows(
      db,
      sql`select 'constraint ' || conname || ' on ' || conrelid::regclass::text as name,
          pg_get_constraintdef(oid) as definition
        from pg_constraint where connamespace = current_schema()::regnamespace and contype <> 'n'`,
    ),
  )
  add(
    await rows(
      db,
      sql`select 'index ' || indexname || ' on ' || tablename as name, indexdef as definition
        from pg_indexes where schemaname = current_schema()`,
    ),
  )
  add(
    await rows(
      db,
      sql`select 'trigger ' || t.tgname || ' on ' || c.relname as name,
          pg_get_triggerdef(t.oid) || case when t.tgenabled = 'D' then ' (disabled)' else '' end as definition
        from pg_trigger t join pg_class c on c.oid = t.tgrelid
        where c.relnamespace = current_schema()::regnamespace and not t.tgisinternal`,
    ),
  )
  add(
    await rows(
      db,
      sql`select 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' as name,
          pg_get_function_result(p.oid) || ' ' || md5(p.prosrc) as definition
        from pg_proc p where p.pronamespace = current_schema()::regnamespace`,
    ),
  )
  const sorted = Object.fromEntries(Object.entries(objects).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return {sha256: createHash('sha256').update(JSON.stringify(sorted)).digest('hex'), objects: sorted}
}

/**
 * Records the live fingerprint as the expected schema. The migrator calls it after applying anything, so a later
 * difference is a change made outside aedb. Does nothing while the fingerprint table does not exist.
 */
export async function recordSchemaFingerprint(db: AnyDb, migration: string | null): Promise<boolean> {
  if (!(await fingerprintTableExists(db))) return false
  const live = await readSchemaFingerprint(db)
  await sql`insert into ${sql.table(FINGERPRINT_TABLE)} (migration, sha256, objects)
    values (${migration}, ${live.sha256}, ${JSON.stringify(live.objects)}::jsonb)`.execute(db)
  return true
}

/** The fingerprint recorded last, or null when none was recorded yet. */
export async function readRecordedFingerprint(db: AnyDb): Promise<SchemaFingerprint | null> {
  if (!(await fingerprintTableExists(db))) return null
  const {rows: found} = await sql<{sha256: string; objects: SchemaObjects}>`
    select sha256, objects from ${sql.table(FINGERPRINT_TABLE)} order by id desc limit 1`.execute(db)
  return found[0] ?? null
}

/** What differs between the recorded and the live catalog, one entry per object, sorted by object. */
export function diffFingerprints(recorded: SchemaFingerprint, live: SchemaFingerprint): SchemaDrift[] {
  const out: SchemaDrift[] = []
  const names = new Set([...Object.keys(recorded.objects), ...Object.keys(live.objects)])
  for (const object of [...names].sort()) {
    if (isNotNullConstraint(object, recorded.objects[object])) continue
    const was = recorded.objects[object] ?? null
    const now = live.objects[object] ?? null
    if (was === now) continue
    out.push({
      object,
      change: was === null ? 'added' : now === null ? 'missing' : 'changed',
      recorded: was,
      live: now,
    })
  }
  return out
}

/**
 * PostgreSQL 17 (and PGlite) list NOT NULL as constraints of their own, PostgreSQL 15 and 16 do not; the columns'
 * `not null` already says it on every version, so fingerprints leave those constraints out and a fingerprint
 * recorded with them (by aedb before 0.1.0's release, or restored from such a backup) is read without them.
 */
function isNotNullConstraint(object: string, definition: string | undefined): boolean {
  return object.startsWith('constraint ') && definition?.startsWith('NOT NULL ') === true
}

async function fingerprintTableExists(db: AnyDb): Promise<boolean> {
  const {rows: found} = await sql<{name: string | null}>`
    select to_regclass(${FINGERPRINT_TABLE})::text as name`.execute(db)
  return Boolean(found[0]?.name)
}

async function rows(
  db: AnyDb,
  query: ReturnType<typeof sql>,
): Promise<Array<{name: string; definition: string | null}>> {
  const result = await query.execute(db)
  return result.rows as Array<{name: string; definition: string | null}>
}
