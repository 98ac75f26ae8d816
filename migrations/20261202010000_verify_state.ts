import {type Kysely, sql} from 'kysely'

// Frozen in time: this file must never import from src/.
// What `aedb verify` remembers between nights: when each file was last verified and what it looked like then
// (oldest-verified-first resume under --time-limit), every finding with the runs that first saw, last saw and
// resolved it (new vs resolved), and the fingerprint of the catalog recorded whenever migrations were applied
// (SCHEMA_DRIFT). These are verify's own bookkeeping: no audit triggers, never domain data.

const UP: string[] = [
  `create table verify_files (
  file_id uuid primary key references files (id) on delete cascade,
  verified_at timestamptz not null,
  run_id uuid references runs (id) on delete set null,
  present boolean not null,
  size_bytes bigint check (size_bytes is null or size_bytes >= 0),
  mtime timestamptz,
  sha256 text check (sha256 ~ '^[0-9a-f]{64}$')
)`,
  `create index verify_files_verified_at_idx on verify_files (verified_at)`,

  `create table verify_findings (
  key text primary key,
  check_name text not null check (check_name in ('files', 'sources', 'rows', 'cross', 'schema')),
  code text not null check (code ~ '^[A-Z][A-Z_]*$'),
  severity text not null check (severity in ('error', 'warning')),
  table_name text,
  row_id text,
  path text,
  message text not null,
  first_seen_run uuid references runs (id) on delete set null,
  last_seen_run uuid references runs (id) on delete set null,
  resolved_run uuid references runs (id) on delete set null,
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  resolved_at timestamptz
)`,
  `create index verify_findings_open_idx on verify_findings (check_name) where resolved_at is null`,

  `create table verify_schema_fingerprints (
  id bigint generated always as identity primary key,
  recorded_at timestamptz not null default now(),
  migration text,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  objects jsonb not null check (jsonb_typeof(objects) = 'object')
)`,
]

const DOWN: string[] = [
  'drop table if exists verify_schema_fingerprints',
  'drop table if exists verify_findings',
  'drop table if exists verify_files',
]

// biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time and must not depend on today's types.
export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db)
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db)
}
