import {pipeline} from 'node:stream/promises'
import type {PGlite} from '@electric-sql/pglite'
import {Kysely, PostgresDialect} from 'kysely'
import pg from 'pg'
import {from as copyFromStdin, to as copyToStdout} from 'pg-copy-streams'
import type {Database} from './schema.js'

/** One connection for bulk reads and loads: Kysely queries and COPY on it share its transaction. */
export interface CopySession {
  db: Kysely<Database>
  /**
   * Runs `<copyFrom> stdin` (server) or `<copyFrom> '/dev/blob'` (PGlite, in blobs of about PGLITE_COPY_BYTES) with
   * `chunks` as its data: COPY text-format rows, each chunk ending at a row's end. Reads chunks only as fast as the
   * database takes them, so memory does not depend on the table's size.
   */
  copyRows(copyFrom: string, chunks: AsyncIterable<string>): Promise<void>
  /**
   * The text of a one-column query's rows, each followed by "\n", as bytes in arbitrary chunks, through
   * `COPY (query) TO STDOUT` in CSV format with a delimiter and a quote character (\x02, \x01) that the text never
   * contains, so nothing is quoted or escaped. Only on a server: PGlite writes a COPY's whole output into one blob,
   * so it is undefined there and the caller reads through a cursor.
   */
  copyOut?: (query: string) => AsyncIterable<Buffer>
}

/** PGlite reads a COPY from one Blob; this bounds how much of a table is held at once. */
export const PGLITE_COPY_BYTES = 4 * 1024 * 1024

export async function withPgliteCopySession<T>(
  db: Kysely<Database>,
  pglite: PGlite,
  fn: (session: CopySession) => Promise<T>,
): Promise<T> {
  // Holding Kysely's one connection keeps every other query out while PGlite is used directly.
  return db.connection().execute((connection) =>
    fn({
      db: connection,
      async copyRows(copyFrom, chunks) {
        const load = (text: string) => pglite.query(`${copyFrom} '/dev/blob'`, [], {blob: new Blob([text])})
        let pending = ''
        for await (const chunk of chunks) {
          pending += chunk
          if (pending.length >= PGLITE_COPY_BYTES) {
            await load(pending)
            pending = ''
          }
        }
        if (pending !== '') await load(pending)
      },
    }),
  )
}

export async function withPostgresCopySession<T>(
  config: pg.ClientConfig,
  fn: (session: CopySession) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(config)
  await client.connect()
  // Kysely borrows this one client as if from a pool; releasing it does nothing, closing the session ends it.
  const held = Object.assign(client, {release: () => {}})
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({pool: {connect: async () => held, end: async () => {}}}),
  })
  try {
    return await fn({
      db,
      async copyRows(copyFrom, chunks) {
        const stream = client.query(copyFromStdin(`${copyFrom} stdin`))
        await pipeline(chunks, stream)
      },
      copyOut: (query) =>
        client.query(
          copyToStdout(`copy (${query}) to stdout with (format csv, delimiter e'\\x02', quote e'\\x01')`),
        ),
    })
  } finally {
    await db.destroy()
    await client.end().catch(() => {})
  }
}
