import {isAedbError} from '../../errors.js'
import type {FileRecord} from '../../files/file-catalog.js'

/** An error of the filesystem (permissions, I/O, a file vanishing mid-run) or FileCatalog's path refusal. */
export function isFileError(error: unknown): error is Error {
  return (
    error instanceof NotARegularFile ||
    (isAedbError(error) && error.code === 'PATH_ESCAPE') ||
    (error instanceof Error && typeof (error as {syscall?: unknown}).syscall === 'string')
  )
}

export function fileErrorCode(error: Error): string {
  return isAedbError(error) ? error.code : error instanceof NotARegularFile ? 'NOT_A_FILE' : 'READ_ERROR'
}

export function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0]!
}

/** A directory, FIFO, socket or device where a file was expected: never read (a FIFO would block forever). */
export class NotARegularFile extends Error {
  constructor(relPath: string) {
    super(`${relPath} is not a regular file; it was not opened`)
    this.name = 'NotARegularFile'
  }
}

/** Throws NotARegularFile unless FileCatalog hashed the file (which it does for regular files only). */
export function assertReadable(record: FileRecord): void {
  if (record.present && record.sha256 === null) throw new NotARegularFile(record.rel_path)
}
