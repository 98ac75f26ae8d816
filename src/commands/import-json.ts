import {Args, Flags} from '@oclif/core'
import {AedbCommand} from '../base-command.js'
import {withDatabase} from '../db/connection.js'
import {EXIT} from '../errors.js'
import {assertPathsExist} from '../files/assert-paths-exist.js'
import type {ImportResult} from '../importers/import-session.js'
import {STEMSET_PATHS_HINT} from '../importers/json/discover-stemset-trees.js'
import {importJson} from '../importers/json/import-json.js'
import {renderImportSummary, renderRejection} from '../render-import-summary.js'

export default class ImportJson extends AedbCommand {
  static override summary = "Import the stem-separation app's metadata.json trees with their audio files."

  static override description =
    `Reads config.yaml, each profile's .processed_hashes.json and every media/<profile>/<recording>/metadata.json in any of its five layouts (folders without one are imported from their stem files), hashes and probes every stem, waveform and source file, and links each recording to its source audio by content. A path in the legacy files that leaves its recording folder is never opened: that recording is rejected.

Each recording is all-or-nothing in its own transaction; unchanged rows are not touched, so running it again is cheap and changes nothing. Rejected recordings are listed with the place and reason, and the exit code is then 3.`

  static override examples = [
    {
      description: 'Import the folder holding config.yaml and media/.',
      command: '<%= config.bin %> <%= command.id %> ./stemset',
    },
    {
      description: 'Import one recording folder.',
      command: '<%= config.bin %> <%= command.id %> media/h4n/251019-001',
    },
    {
      description: 'Show what would change, write nothing.',
      command: '<%= config.bin %> <%= command.id %> ./stemset --dry-run --json',
    },
  ]

  static override strict = false
  static override args = {
    paths: Args.string({description: 'App, media/, profile or recording folders.', required: true}),
  }

  static override flags = {
    'dry-run': Flags.boolean({
      summary: 'Run in a transaction that is rolled back; report what would change.',
    }),
    jobs: Flags.integer({
      char: 'j',
      summary: 'Recordings read and written at once.',
      default: 4,
      min: 1,
      max: 64,
    }),
    'max-errors': Flags.integer({summary: 'Stop starting recordings after this many were rejected.', min: 1}),
  }

  async run(): Promise<ImportResult> {
    const {argv, flags} = await this.parse(ImportJson)
    await assertPathsExist(argv as string[], STEMSET_PATHS_HINT)
    const human = !this.jsonEnabled() && !flags.quiet
    const clear = human && process.stderr.isTTY ? '\r\u001B[K' : ''
    const signal = this.stopOnSignals('recording', flags.quiet, (line) =>
      process.stderr.write(`${clear}${line}\n`),
    )
    const result = await withDatabase(
      this.databaseTarget(flags['database-url']),
      ({db, location}) => {
        this.note(flags.quiet, `database: ${location}`)
        return importJson({
          db,
          paths: argv as string[],
          jobs: flags.jobs,
          dryRun: flags['dry-run'],
          maxErrors: flags['max-errors'],
          argv: this.argv,
          version: this.config.version,
          signal,
          // Warnings go to stderr under --json too (DESIGN.md); only --quiet silences them.
          onWarning: (w) => flags.quiet || process.stderr.write(`${clear}warning: ${w.message}\n`),
          onProgress: (p) =>
            clear && process.stderr.write(`${clear}[${p.done}/${p.total}] ${p.recording}`.slice(0, 100)),
        })
      },
      {mustExist: true},
    )
    process.stderr.write(clear)
    if (human) this.log(renderImportSummary(result, 'recording'))
    else if (flags.quiet && !this.jsonEnabled()) {
      for (const r of result.rejected) process.stderr.write(`${renderRejection(r)}\n`)
    }
    // Nothing found to import is a problem too, so that cron notices a wrong or emptied folder.
    const nothingFound = result.warnings.some((w) => w.code === 'NO_RECORDINGS_FOUND')
    if (result.rejected.length > 0 || nothingFound) process.exitCode = EXIT.PROBLEMS
    this.reportInterrupted(result, flags.quiet)
    return result
  }
}
