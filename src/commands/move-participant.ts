import {Args, Flags} from '@oclif/core'
import {AedbCommand} from '../base-command.js'
import {withDatabase} from '../db/connection.js'
import {type MoveParticipantResult, moveParticipant} from '../db/move-participant.js'
import {STUDY_NAMES} from '../importers/excel/parse-log.js'

export default class MoveParticipant extends AedbCommand {
  static override summary = 'Move a participant, with all its logs, to another study (recorded and audited).'

  static override description =
    `A participant number belongs to one study. When a log names another study than the one the participant is stored under, backfill-excel refuses it (PARTICIPANT_IN_OTHER_STUDY) and names the run that put it there; if the new study is right, move the participant with this command and import again.

The move is one run (command 'move-participant' in the runs table) and the audit log keeps the old study. The participant keeps its id, so its logs, cycles and files move with it. Moving to the study it is already in changes nothing.`

  static override examples = [
    {
      description: 'Participant 2006 belongs to preOA, not AOA.',
      command: '<%= config.bin %> <%= command.id %> 2006 --to preOA',
    },
    {
      description: 'The same, on a server database, with a JSON result.',
      command:
        '<%= config.bin %> <%= command.id %> 2006 --to preOA --database-url postgresql://lab@db.example.org/aedb --json',
    },
  ]

  static override args = {
    number: Args.integer({description: 'The participant number (1011, 2006, ...).', required: true, min: 0}),
  }

  static override flags = {
    to: Flags.string({
      summary: 'The study the participant belongs to.',
      options: [...STUDY_NAMES],
      required: true,
    }),
  }

  async run(): Promise<MoveParticipantResult> {
    const {args, flags} = await this.parse(MoveParticipant)
    const result = await withDatabase(
      this.databaseTarget(flags['database-url']),
      ({db}) =>
        moveParticipant({
          db,
          participantNumber: args.number,
          to: flags.to,
          argv: this.argv,
          version: this.config.version,
        }),
      {mustExist: true},
    )
    if (!this.jsonEnabled() && !flags.quiet)
      this.log(
        result.moved
          ? `Moved participant ${result.participantNumber} from ${result.from} to ${result.to} (run ${result.runId}).`
          : `Participant ${result.participantNumber} is already in ${result.to}; nothing changed.`,
      )
    return result
  }
}
