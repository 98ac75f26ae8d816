import * as initialSchema from '../../migrations/20261122000000_initial_schema.js'
import * as runOutcomesAndCommands from '../../migrations/20261202000000_run_outcomes_and_commands.js'
import * as verifyState from '../../migrations/20261202010000_verify_state.js'
import * as viewsForPeople from '../../migrations/20261202030000_views_for_people.js'
import type {NamedMigration} from './migrator.js'

/**
 * Every migration aedb ships, oldest first. A static list (rather than scanning a folder) works the same from
 * dist/, from bin/dev.js and under vitest. Add new migrations at the end; never edit or remove an entry.
 */
export const MIGRATIONS: readonly NamedMigration[] = [
  {name: '20261122000000_initial_schema', module: initialSchema},
  {name: '20261202000000_run_outcomes_and_commands', module: runOutcomesAndCommands},
  {name: '20261202010000_verify_state', module: verifyState},
  {name: '20261202030000_views_for_people', module: viewsForPeople},
]
