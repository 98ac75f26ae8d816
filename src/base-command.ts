import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {
  type DatabaseTarget,
  parseDatabaseUrl,
  redactSecrets,
  resolveDatabaseTarget,
} from './db/database-url.js'
import {loadEnvironment} from './env-files.js'
import {AedbError, EXIT, isAedbError} from './errors.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof AedbCommand)['baseFlags'] & T['flags']
>

/**
 * What every aedb command shares: `--json`, `--database-url`, `--quiet`, and one mapping from AedbError to the
 * exit codes of DESIGN.md. Every message leaves through here with URL passwords replaced by `***`.
 */
export abstract class AedbCommand extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    'database-url': Flags.string({
      summary: 'Database to use: postgresql://…, pglite:<dir> or memory:.',
      description:
        'Defaults to AEDB_DATABASE_URL, DATABASE_URL or AE_DATABASE_URL (also read from .env and .env.local), else the embedded database in the data directory.',
      helpGroup: 'GLOBAL',
    }),
    quiet: Flags.boolean({
      char: 'q',
      summary: 'Print nothing but errors (and the JSON document with --json).',
      helpGroup: 'GLOBAL',
    }),
  }

  /** The database this invocation targets, resolved from the flag, the environment and `.env` files. */
  protected databaseTarget(flag: string | undefined): DatabaseTarget {
    const env = loadEnvironment()
    const target =
      flag !== undefined ? parseDatabaseUrl(flag, '--database-url') : resolveDatabaseTarget({env})
    return target
  }

  /** Human output on stderr, so stdout stays clean for --json and for pipes. */
  protected note(quiet: boolean, message: string): void {
    if (!quiet && !this.jsonEnabled()) process.stderr.write(`${redactSecrets(message)}\n`)
  }

  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    const mapped = toCliError(error)
    process.exitCode = mapped.oclif.exit ?? EXIT.INTERNAL
    ;(mapped as unknown as {exitCode: number}).exitCode = process.exitCode
    return super.catch(mapped)
  }

  protected override toErrorJson(error: unknown): unknown {
    const e = error as Errors.CLIError & {code?: string; suggestions?: string[]}
    return {
      error: {
        code: e.code ?? 'INTERNAL',
        message: redactSecrets(e.message ?? String(error)),
        exit: e.oclif?.exit ?? EXIT.INTERNAL,
        suggestions: (e.suggestions ?? []).map(redactSecrets),
      },
    }
  }
}

function toCliError(error: Error): Errors.CLIError {
  if (isAedbError(error)) {
    const cli = new Errors.CLIError(redactSecrets(error.message), {
      exit: error.exit,
      code: error.code,
      suggestions: error.suggestions.map(redactSecrets),
    })
    return cli
  }
  if (error instanceof Errors.CLIError) {
    // Parser and usage errors from oclif already carry exit 2.
    error.message = redactSecrets(error.message)
    ;(error as Errors.CLIError & {code?: string}).code ??= 'USAGE'
    return error
  }
  const cli = new Errors.CLIError(redactSecrets(`Unexpected internal error: ${error.message}`), {
    exit: EXIT.INTERNAL,
    code: 'INTERNAL',
    suggestions: ['This is a bug in aedb; please report it with the command you ran.'],
  })
  if (process.env.DEBUG && error.stack) process.stderr.write(`${redactSecrets(error.stack)}\n`)
  return cli
}

export {AedbError}
