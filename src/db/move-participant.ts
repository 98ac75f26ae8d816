import {type Kysely, sql} from 'kysely'
import {AedbError, EXIT} from '../errors.js'
import {deterministicId} from './deterministic-id.js'
import {MIGRATIONS} from './migrations.js'
import {assertSchemaCurrent} from './migrator.js'
import {finishRun, startRun} from './runs.js'
import type {Database} from './schema.js'

export interface MoveParticipantProps {
  db: Kysely<Database>
  participantNumber: number
  /** The study the participant belongs to (one of the study names aedb knows). */
  to: string
  argv?: readonly string[]
  version: string
}

export interface MoveParticipantResult {
  /** The run that recorded the move; null when there was nothing to move. */
  runId: string | null
  participantNumber: number
  from: string
  to: string
  moved: boolean
}

/**
 * Moves a participant (with all its logs, which hang off its id) to another study, as one audited run: the runs row
 * says who moved it and the audit trigger keeps the old study. The participant keeps its id, so nothing below it
 * changes; later imports find it under its new study.
 */
export async function moveParticipant(props: MoveParticipantProps): Promise<MoveParticipantResult> {
  await assertSchemaCurrent(props.db, MIGRATIONS)
  const {participantNumber: number, to} = props
  const current = await findParticipant(props.db, number)
  const base = {participantNumber: number, from: current.study, to}
  if (current.study === to) return {...base, runId: null, moved: false}
  const runId = await startRun({
    db: props.db,
    command: 'move-participant',
    argv: props.argv ?? [],
    version: props.version,
  })
  try {
    await props.db.transaction().execute(async (trx) => {
      await sql`select set_config('aedb.run_id', ${runId}, true)`.execute(trx)
      const studyId = deterministicId('study', to)
      await trx
        .insertInto('studies')
        .values({id: studyId, name: to, run_id: runId})
        .onConflict((oc) => oc.column('name').doNothing())
        .execute()
      const study = await trx
        .selectFrom('studies')
        .select('id')
        .where('name', '=', to)
        .executeTakeFirstOrThrow()
      await trx
        .updateTable('participants')
        .set({study_id: study.id, run_id: runId})
        .where('id', '=', current.id)
        .execute()
    })
  } catch (error) {
    await finishRun(props.db, runId, 'failed', {}).catch(() => {})
    throw error
  }
  await finishRun(props.db, runId, 'succeeded', {tables: {participants: {updated: 1}}})
  return {...base, runId, moved: true}
}

async function findParticipant(db: Kysely<Database>, number: number): Promise<{id: string; study: string}> {
  const rows = await db
    .selectFrom('participants')
    .innerJoin('studies', 'studies.id', 'participants.study_id')
    .select(['participants.id as id', 'studies.name as study'])
    .where('participants.participant_number', '=', number)
    .orderBy('studies.name')
    .execute()
  if (rows.length === 0)
    throw new AedbError(`No participant ${number} is in the database.`, {
      code: 'PARTICIPANT_NOT_FOUND',
      exit: EXIT.PROBLEMS,
      suggestions: ['Check the number, or import its logs first with `aedb backfill-excel`.'],
    })
  if (rows.length > 1)
    throw new AedbError(
      `Participant ${number} is in ${rows.length} studies (${rows.map((r) => r.study).join(', ')}); a move cannot merge them.`,
      {
        code: 'PARTICIPANT_IN_SEVERAL_STUDIES',
        exit: EXIT.PROBLEMS,
        suggestions: [
          'Delete the stale copy first (its rows are listed by its participant id), then move the one left.',
        ],
      },
    )
  return rows[0]!
}
