import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {canonicalOptionValues} from './canonical-option-values.js'
import {closestName} from './closest-name.js'
import {setLockWaitListener} from './db/connection.js'
import {
  type DatabaseTarget,
  parseDatabaseUrl,
  redactSecrets,
  resolveDatabaseTarget,
} from './db/database-url.js'
import {describeOwner} from './db/pglite-folder-lock.js'
import {loadEnvironment} from './env-files.js'
import {AedbError, EXIT, isAedbError} from './errors.js'
import {type Interrupts, listenForInterrupts, SIGNAL_EXIT} from './listen-for-interrupts.js'

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

  private interrupts: Interrupts | undefined

  override async init(): Promise<void> {
    await super.init()
    // Said at once (not after the timeout), for every command, read-only ones too; --quiet silences it.
    const quiet = this.argv.includes('--quiet') || this.argv.includes('-q')
    setLockWaitListener((dataDir, owner) => {
      if (!quiet) {
        process.stderr.write(
          `${redactSecrets(`waiting for the embedded database at pglite:${dataDir}: it is in use by ${describeOwner(owner)}`)}\n`,
        )
      }
    })
  }

  /** Option values in any case (`--study aoa`), handed to oclif as the options list writes them. */
  protected override async parse<
    F extends Interfaces.OutputFlags<Interfaces.FlagInput>,
    B extends Interfaces.OutputFlags<Interfaces.FlagInput>,
    A extends Interfaces.OutputArgs<Interfaces.ArgInput>,
  >(
    options?: Interfaces.Input<F, B, A>,
    argv: string[] = this.argv,
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const flags = {...(options?.baseFlags ?? {}), ...(options?.flags ?? {})}
    try {
      return await super.parse(options, canonicalOptionValues(argv, flags, options?.args ?? {}))
    } catch (error) {
      throw asUsageError(error)
    }
  }

  /** The database this invocation targets, resolved from the flag, the environment and `.env` files. */
  protected databaseTarget(flag: string | undefined): DatabaseTarget {
    const env = loadEnvironment()
    const target =
      flag !== undefined ? parseDatabaseUrl(flag, '--database-url') : resolveDatabaseTarget({env})
    return target
  }

  /**
   * Lets SIGINT and SIGTERM stop the command's work after the `unit` in flight (the second one exits at once).
   * `say` prints a line without garbling a progress line; the returned signal goes into the core's props.
   */
  protected stopOnSignals(unit: string, quiet: boolean, say: (line: string) => void): AbortSignal {
    this.interrupts = listenForInterrupts({
      onFirst: (signal) => {
        if (quiet) return
        const again = signal === 'SIGINT' ? 'press Ctrl-C again' : 'send SIGTERM again'
        say(`${signal} received: finishing the ${unit} in flight, then stopping (${again} to stop at once).`)
      },
    })
    return this.interrupts.signal
  }

  /** After a run a signal stopped: exit 130 (SIGINT) or 143 (SIGTERM), and say that running again continues. */
  protected reportInterrupted(result: {interrupted: boolean}, quiet: boolean): void {
    const signal = this.interrupts?.received()
    if (!result.interrupted || !signal) return
    process.exitCode = SIGNAL_EXIT[signal]
    if (!quiet) {
      process.stderr.write(
        `Interrupted by ${signal}: what is counted above was committed and the run is marked interrupted; run the same command again to continue.\n`,
      )
    }
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    this.interrupts?.dispose()
    return super.finally(error)
  }

  /** Human output on stderr, so stdout stays clean for --json and for pipes. */
  protected note(quiet: boolean, message: string): void {
    if (!quiet && !this.jsonEnabled()) process.stderr.write(`${redactSecrets(message)}\n`)
  }

  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    const mapped = toCliError(unknownFlagError(error, this.flagNames()) ?? error)
    process.exitCode = mapped.oclif.exit ?? EXIT.INTERNAL
    ;(mapped as unknown as {exitCode: number}).exitCode = process.exitCode
    return super.catch(mapped)
  }

  /** Every long flag name this command takes, for did-you-mean. */
  private flagNames(): string[] {
    const ctor = this.ctor as typeof AedbCommand
    return [...Object.keys({...ctor.baseFlags, ...ctor.flags}), 'json', 'help']
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

/**
 * `--studdy`: one line naming the flag and the nearest real one, instead of oclif's error followed by the whole
 * usage text.
 */
function unknownFlagError(error: Error, known: string[]): AedbError | undefined {
  if (!(error instanceof Errors.CLIError) || !('flags' in error) || !Array.isArray(error.flags))
    return undefined
  if (!/^Nonexistent flag/.test(error.message)) return undefined
  const parts = (error.flags as string[]).map((typed) => {
    const name = typed.replace(/=.*$/, '')
    const guess = closestName(name.replace(/^-+/, ''), known)
    return guess ? `${name} (did you mean --${guess}?)` : name
  })
  return new AedbError(`Unknown flag${parts.length === 1 ? '' : 's'}: ${parts.join(', ')}.`, {
    code: 'UNKNOWN_FLAG',
    exit: EXIT.USAGE,
    suggestions: ['`--help` lists the flags of a command.'],
  })
}

/**
 * An argument or flag value oclif's parser refused with a plain Error (`Args.integer` given `abc`, `Flags.file`
 * naming no file): the user's input, not a bug, so exit 2 with its message.
 */
function asUsageError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof Errors.CLIError || isAedbError(error)) return error
  return new AedbError(error.message, {
    code: 'USAGE',
    exit: EXIT.USAGE,
    suggestions: ['`--help` shows what each argument and flag expects.'],
  })
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
