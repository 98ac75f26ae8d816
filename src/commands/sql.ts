import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {text} from 'node:stream/consumers'
import {Args, Flags} from '@oclif/core'
import {AedbCommand} from '../base-command.js'
import {withDatabase} from '../db/connection.js'
import {AedbError, EXIT} from '../errors.js'
import {runInteractivePrompt} from '../sql/interactive-prompt.js'
import {createResultWriter, type ResultFormat, streamWriter} from '../sql/result-writer.js'
import {assertOneResult, runSql} from '../sql/run-sql.js'

export default class Sql extends AedbCommand {
  static override summary = 'Run SQL on the database, or explore it at an interactive prompt.'

  static override description =
    `Runs one or more statements (separated by ;) given as an argument, on stdin or with -f, in one read-only transaction, and prints each result as an aligned table, or with --json (an array of objects), --csv or --tsv. Results stream through a cursor, so a query over millions of rows starts printing at once and uses little memory. --write allows changes: all statements commit together or not at all, recorded as a run and audited. Without a query on a terminal, opens a prompt (\\dt lists tables and views, \\d NAME describes one, \\q quits).

The views syncs, cycles, logs, stem_files, recording_sources and file_status answer most questions without joins; docs/data-model.md describes every table and view.`

  static override examples = [
    {
      description: 'Which syncs of a participant failed?',
      command: `<%= config.bin %> <%= command.id %> "select sync_file, speed, pass from syncs where participant = 2037 and knee = 'right' and maneuver = 'walk' and status = 'error'"`,
    },
    {
      description: 'How long is each stem, as CSV for a spreadsheet.',
      command:
        '<%= config.bin %> <%= command.id %> "select profile, recording, stem_type, duration_s from stem_files" --csv',
    },
    {
      description: 'Run the statements of a file.',
      command: '<%= config.bin %> <%= command.id %> -f report.sql',
    },
    {
      description: 'Change data (recorded as a run, audited).',
      command: `<%= config.bin %> <%= command.id %> --write "update files set present = false where kind = 'waveform'"`,
    },
    {description: 'Open the interactive prompt.', command: '<%= config.bin %> <%= command.id %>'},
  ]

  static override args = {
    query: Args.string({description: 'The SQL to run (else -f, else stdin, else the prompt on a terminal).'}),
  }

  static override flags = {
    file: Flags.file({
      char: 'f',
      summary: 'Read the SQL from this file.',
      exists: true,
      exclusive: ['query'],
    }),
    write: Flags.boolean({summary: 'Allow changes (recorded as a run and audited); read-only without it.'}),
    csv: Flags.boolean({summary: 'Print the result as CSV with a header row.', exclusive: ['tsv', 'json']}),
    tsv: Flags.boolean({
      summary: 'Print the result as tab-separated values with a header row.',
      exclusive: ['json'],
    }),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Sql)
    const format: ResultFormat = this.jsonEnabled() ? 'json' : flags.csv ? 'csv' : flags.tsv ? 'tsv' : 'table'
    if (args.query !== undefined && flags.file) {
      throw new AedbError('Give the SQL either as an argument or with -f, not both.', {
        code: 'USAGE',
        exit: EXIT.USAGE,
      })
    }
    const query = args.query ?? (flags.file ? await readFile(flags.file, 'utf8') : await readStdin())
    if (query !== null && format !== 'table') assertOneResult(query, format)
    const target = this.databaseTarget(flags['database-url'])
    await withDatabase(
      target,
      async ({db, withSession, location}) => {
        const common = {db, withSession, write: flags.write, argv: this.argv, version: this.config.version}
        if (query === null) {
          const historyFile = path.join(this.config.dataDir, 'sql_history')
          await runInteractivePrompt({
            ...common,
            location,
            historyFile,
            input: process.stdin,
            output: process.stdout,
          })
          return
        }
        const writer = createResultWriter(format, streamWriter(process.stdout))
        const result = await runSql({...common, sql: query, sink: writer})
        await writer.finish()
        if (result.runId) this.note(flags.quiet, `run ${result.runId}`)
      },
      {mustExist: true, poolSize: 2},
    )
  }
}

/** The query piped in, or null on a terminal (the prompt then asks for it). */
async function readStdin(): Promise<string | null> {
  return process.stdin.isTTY ? null : text(process.stdin)
}
