import {isAedbError} from '../../errors.js'

/** An error of the filesystem (permissions, I/O, a file vanishing mid-run) or FileCatalog's path refusal. */
export function isFileError(error: unknown): error is Error {
  return (
    (isAedbError(error) && error.code === 'PATH_ESCAPE') ||
    (error instanceof Error && typeof (error as {syscall?: unknown}).syscall === 'string')
  )
}

export function fileErrorCode(error: Error): string {
  return isAedbError(error) ? error.code : 'READ_ERROR'
}

export function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0]!
}
