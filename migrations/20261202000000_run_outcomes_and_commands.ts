import {type Kysely, sql} from 'kysely'

// Frozen in time: this file must never import from src/.
// Runs gain the outcome 'interrupted' (a signal stopped the command after committing part of its work) and the
// commands that arrive after the first release: the ones that look (sql --write is audited like any import),
// keep the database safe (backup, restore, promote) and move a participant between studies.

const OLD_COMMANDS = ['init', 'migrate', 'backfill-excel', 'import-json', 'export-excel', 'verify']
const NEW_COMMANDS = [...OLD_COMMANDS, 'sql', 'backup', 'restore', 'promote', 'move-participant']
const OLD_OUTCOMES = ['running', 'succeeded', 'problems', 'failed']
const NEW_OUTCOMES = [...OLD_OUTCOMES, 'interrupted']

function list(values: string[]): string {
  return values.map((v) => `'${v}'`).join(', ')
}

async function setChecks(
  // biome-ignore lint/suspicious/noExplicitAny: migrations are frozen in time and must not depend on today's types.
  db: Kysely<any>,
  commands: string[],
  outcomes: string[],
): Promise<void> {
  await sql.raw('alter table runs drop constraint if exists runs_command_check').execute(db)
  await sql.raw('alter table runs drop constraint if exists runs_outcome_check').execute(db)
  await sql
    .raw(`alter table runs add constraint runs_command_check check (command in (${list(commands)}))`)
    .execute(db)
  await sql
    .raw(`alter table runs add constraint runs_outcome_check check (outcome in (${list(outcomes)}))`)
    .execute(db)
}

// biome-ignore lint/suspicious/noExplicitAny: see setChecks().
export async function up(db: Kysely<any>): Promise<void> {
  await setChecks(db, NEW_COMMANDS, NEW_OUTCOMES)
}

// biome-ignore lint/suspicious/noExplicitAny: see setChecks().
export async function down(db: Kysely<any>): Promise<void> {
  await sql.raw(`update runs set outcome = 'failed' where outcome = 'interrupted'`).execute(db)
  await sql.raw(`delete from runs where command not in (${list(OLD_COMMANDS)})`).execute(db)
  await setChecks(db, OLD_COMMANDS, OLD_OUTCOMES)
}
