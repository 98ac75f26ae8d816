/** Exit codes of the command contract (DESIGN.md). */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  PROBLEMS: 3,
  DATABASE: 4,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

export interface AedbErrorOptions {
  code: string
  exit?: ExitCode
  suggestions?: string[]
  cause?: unknown
}

/**
 * The one error class of aedb. Core code throws it with a stable `code`; the base command maps it to an
 * exit code and prints the suggestions. Messages must never contain a password: build them from redacted URLs.
 */
export class AedbError extends Error {
  readonly code: string
  readonly exit: ExitCode
  readonly suggestions: string[]

  constructor(message: string, options: AedbErrorOptions) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'AedbError'
    this.code = options.code
    this.exit = options.exit ?? EXIT.INTERNAL
    this.suggestions = options.suggestions ?? []
  }
}

export function isAedbError(error: unknown): error is AedbError {
  return error instanceof AedbError
}
