import {type Kysely, sql} from 'kysely'

// Frozen in time: this file must never import from src/.
// The audit trigger fires once per statement over its transition tables instead of once per row: an import that
// upserts thousands of rows in one statement writes their audit entries with one INSERT ... SELECT. The entries are
// the same as the row-level trigger's (table, operation, row id, the whole row on insert and delete, only the changed
// columns on update, the run named by set_config('aedb.run_id', ..., true)). PostgreSQL allows transition tables on
// a trigger of one event only, so each table has three triggers; the insert one keeps the old trigger's name.

const AUDITED_TABLES = [
  'import_roots',
  'files',
  'source_audio',
  'studies',
  'participants',
  'source_imports',
  'processing_logs',
  'audio_processing',
  'biomechanics_imports',
  'synchronizations',
  'cycle_extraction_summaries',
  'movement_cycles',
  'knee_logs',
  'knee_log_maneuvers',
  'profiles',
  'recordings',
  'stems',
  'processed_hashes',
]

const STATEMENT_LEVEL = `create or replace function aedb_audit() returns trigger language plpgsql as $$
declare
  current_run uuid := nullif(current_setting('aedb.run_id', true), '')::uuid;
begin
  if tg_op = 'INSERT' then
    insert into audit_log (table_name, row_id, operation, new_values, run_id)
    select tg_table_name, n.id, 'insert', to_jsonb(n) - 'created_at' - 'updated_at', current_run
    from aedb_new_rows n;
  elsif tg_op = 'UPDATE' then
    insert into audit_log (table_name, row_id, operation, old_values, new_values, run_id)
    select tg_table_name, pair.id, 'update', diff.old_values, diff.new_values, current_run
    from (
      select n.id, to_jsonb(o) - 'updated_at' as old_row, to_jsonb(n) - 'updated_at' as new_row
      from aedb_new_rows n join aedb_old_rows o on o.id = n.id
    ) pair
    cross join lateral (
      select jsonb_object_agg(col.key, pair.old_row -> col.key) as old_values,
        jsonb_object_agg(col.key, col.value) as new_values
      from jsonb_each(pair.new_row) col
      where pair.old_row -> col.key is distinct from col.value
    ) diff
    where diff.new_values is not null;
  else
    insert into audit_log (table_name, row_id, operation, old_values, run_id)
    select tg_table_name, o.id, 'delete', to_jsonb(o) - 'created_at' - 'updated_at', current_run
    from aedb_old_rows o;
  end if;
  return null;
end
$$`

// The row-level function of 20261122000000_initial_schema, restored by down().
const ROW_LEVEL = `create or replace function aedb_audit() returns trigger language plpgsql as $$
declare
  old_row jsonb;
  new_row jsonb;
  changed_old jsonb := '{}'::jsonb;
  changed_new jsonb := '{}'::jsonb;
  column_name text;
  current_run uuid := nullif(current_setting('aedb.run_id', true), '')::uuid;
begin
  if tg_op = 'INSERT' then
    insert into audit_log (table_name, row_id, operation, new_values, run_id)
    values (tg_table_name, new.id, 'insert', to_jsonb(new) - 'created_at' - 'updated_at', current_run);
    return new;
  elsif tg_op = 'UPDATE' then
    old_row := to_jsonb(old) - 'updated_at';
    new_row := to_jsonb(new) - 'updated_at';
    for column_name in select jsonb_object_keys(new_row) loop
      if old_row -> column_name is distinct from new_row -> column_name then
        changed_old := changed_old || jsonb_build_object(column_name, old_row -> column_name);
        changed_new := changed_new || jsonb_build_object(column_name, new_row -> column_name);
      end if;
    end loop;
    if changed_new <> '{}'::jsonb then
      insert into audit_log (table_name, row_id, operation, old_values, new_values, run_id)
      values (tg_table_name, new.id, 'update', changed_old, changed_new, current_run);
    end if;
    return new;
  else
    insert into audit_log (table_name, row_id, operation, old_values, run_id)
    values (tg_table_name, old.id, 'delete', to_jsonb(old) - 'created_at' - 'updated_at', current_run);
    return old;
  end if;
end
$$`

const UP: string[] = [
  STATEMENT_LEVEL,
  ...AUDITED_TABLES.flatMap((table) => [
    `drop trigger ${table}_audit on ${table}`,
    `create trigger ${table}_audit after insert on ${table} referencing new table as aedb_new_rows for each statement execute function aedb_audit()`,
    `create trigger ${table}_audit_update after update on ${table} referencing old table as aedb_old_rows new table as aedb_new_rows for each statement execute function aedb_audit()`,
    `create trigger ${table}_audit_delete after delete on ${table} referencing old table as aedb_old_rows for each statement execute function aedb_audit()`,
  ]),
]

const DOWN: string[] = [
  ...AUDITED_TABLES.flatMap((table) => [
    `drop trigger ${table}_audit_delete on ${table}`,
    `drop trigger ${table}_audit_update on ${table}`,
    `drop trigger ${table}_audit on ${table}`,
    `create trigger ${table}_audit after insert or update or delete on ${table} for each row execute function aedb_audit()`,
  ]),
  ROW_LEVEL,
]

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time and must not depend on today's types.
export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db)
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db)
}
