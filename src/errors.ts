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

/** What a filesystem error on a path the user gave means, by its code. */
const PATH_PROBLEMS: Record<string, string> = {
  EEXIST: 'a file is in the way of a folder it needs',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EACCES: 'permission denied',
  EPERM: 'the operation is not permitted there',
  EROFS: 'the filesystem is read-only',
}

/**
 * ENOENT means the user's path is unusable only from mkdir: aedb makes missing parents first (makeFolder), so it
 * is a place where no folder can be made (`/proc/x`). Elsewhere (a file gone mid-run) it is not the path's fault.
 */
function pathProblem(error: unknown): string | undefined {
  const {code, syscall} = (error ?? {}) as {code?: unknown; syscall?: unknown}
  if (typeof code !== 'string') return undefined
  if (code === 'ENOENT') return syscall === 'mkdir' ? 'a folder cannot be created there' : undefined
  return PATH_PROBLEMS[code]
}

/**
 * A filesystem error on a path the user chose (a file where a folder must go, no permission) as an AedbError naming
 * the path: the user's to fix, not a bug in aedb. Any other error is returned as it is.
 */
export function userPathError(
  error: unknown,
  where: string,
  options: {code: string; exit: ExitCode},
): unknown {
  const problem = pathProblem(error)
  if (problem === undefined) return error
  return new AedbError(`Cannot write at ${where}: ${problem} (${(error as {code: string}).code}).`, {
    ...options,
    suggestions: ['Choose a path in a folder you can write to.'],
    cause: error,
  })
}
