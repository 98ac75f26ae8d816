import {AedbError, EXIT} from '../errors.js'
import type {SqlStatement} from './split-statements.js'

/** An error of one statement, with the statement, so its position can be shown in the whole input. */
export class StatementFailure extends Error {
  constructor(
    readonly error: unknown,
    readonly statement: SqlStatement,
  ) {
    super(error instanceof Error ? error.message : String(error))
  }
}

interface ServerError {
  message: string
  code?: string
  position?: string
  detail?: string
  hint?: string
}

const READ_ONLY = '25006'

/**
 * The server's error as psql would show it: the message, then the line of the input it points at with a caret under
 * the spot, so a mistake in line 7 of a file is found at once.
 */
export function toSqlError(error: unknown, input: string, write: boolean): unknown {
  if (!(error instanceof StatementFailure)) return error
  const server = error.error as ServerError
  if (typeof server?.code !== 'string' || !/^[0-9A-Z]{5}$/.test(server.code)) return error.error
  const lines = [`${server.message} (SQLSTATE ${server.code})`]
  const position = Number.parseInt(server.position ?? '', 10)
  if (Number.isFinite(position) && position > 0 && position <= error.statement.text.length + 1) {
    lines.push(...pointAt(input, error.statement.offset + position - 1))
  }
  if (server.detail) lines.push(`DETAIL: ${server.detail}`)
  const suggestions = server.hint ? [server.hint] : []
  if (server.code === READ_ONLY && !write) {
    suggestions.push(
      'aedb sql is read-only unless you add --write (the change is then recorded as a run and audited).',
    )
  }
  return new AedbError(lines.join('\n'), {
    code: server.code === READ_ONLY ? 'SQL_READ_ONLY' : 'SQL_ERROR',
    exit: EXIT.USAGE,
    suggestions,
    cause: error.error,
  })
}

/** `LINE n: <text>` and a caret under character `index` of `input`. */
export function pointAt(input: string, index: number): string[] {
  const lineStart = input.lastIndexOf('\n', index - 1) + 1
  const lineEnd = input.indexOf('\n', index)
  const line = input.slice(lineStart, lineEnd === -1 ? input.length : lineEnd)
  const lineNumber = input.slice(0, lineStart).split('\n').length
  const prefix = `LINE ${lineNumber}: `
  return [`${prefix}${line}`, `${' '.repeat(prefix.length + index - lineStart)}^`]
}
