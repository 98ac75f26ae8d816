import {readFile} from 'node:fs/promises'
import {hostname} from 'node:os'
import path from 'node:path'
import type {PGlite} from '@electric-sql/pglite'
import {Kysely, PostgresDialect} from 'kysely'
import pg from 'pg'
import {to as copyTo} from 'pg-copy-streams'
import {AedbError, EXIT, userPathError} from '../errors.js'
import {makeFolder} from '../make-folder.js'
import {type CopySession, withPgliteCopySession, withPostgresCopySession} from './copy-session.js'
import type {DatabaseTarget} from './database-url.js'
import {redactSecrets} from './database-url.js'
import {PGliteDialect} from './pglite-dialect.js'
import {type LockOwner, lockPgliteFolder} from './pglite-folder-lock.js'
import type {Database} from './schema.js'

export type Backend = 'pglite' | 'postgres'

export interface OpenDatabase {
  db: Kysely<Database>
  backend: Backend
  /** Where the database is, with any password replaced by `***`. */
  location: string
  /** True when this call created the database (a new PGlite folder, or CREATE DATABASE on a server). */
  created: boolean
  close(): Promise<void>
  /** One connection of its own for statements a person wrote (`aedb sql`), held until `fn` settles. */
  withSession<T>(fn: (session: RawSession) => Promise<T>): Promise<T>
  /** On a server only: the rows of a query as `COPY ... TO STDOUT` text, on a connection of its own. */
  copyOut?: CopyOut
  /** One connection of its own for a bulk load (Kysely plus `COPY ... FROM`), held until `fn` settles. */
  withCopySession<T>(fn: (session: CopySession) => Promise<T>): Promise<T>
}

/**
 * `COPY (query) TO STDOUT` in text format: chunks of whole and partial rows as they arrive, with doubles printed to
 * round-trip exactly. Stopping early (or a failure) closes the connection rather than reuse it mid-COPY.
 */
export type CopyOut = (query: string) => AsyncIterable<Buffer>

export interface RawField {
  name: string
  /** The PostgreSQL type oid. */
  typeId: number
}

export interface RawResult {
  command: string
  rowCount: number | null
  /** Empty for a statement that returns no rows (INSERT without RETURNING, SET, ...). */
  fields: RawField[]
  /** Rows as arrays, so two columns of the same name both survive. */
  rows: unknown[][]
}

/** One statement at a time (no parameters), on one connection, with the same type parsers as Kysely's. */
export interface RawSession {
  query(text: string): Promise<RawResult>
}

export interface OpenDatabaseOptions {
  /** On a server, create the database when it does not exist and the role may. PGlite folders are created unless `mustExist`. */
  createDatabase?: boolean
  /** Fail with DATABASE_MISSING rather than create a PGlite folder (for commands that only look, like `--dry-run`). */
  mustExist?: boolean
  /** Maximum pool size on a server. */
  poolSize?: number
  /** How long to wait for another process that holds an embedded database folder. */
  pgliteLockTimeoutMs?: number
  /** Called at once when another process holds the embedded database folder (default: see setLockWaitListener). */
  onLockWait?: LockWaitListener
  applicationName?: string
}

// Same JavaScript types from both backends: int8 as number (sizes stay far below 2^53), timestamps without
// time zone as their naive wall-clock text, so no machine time zone ever shifts a legacy value.
const PARSE_INT8 = (value: string) => Number(value)
const KEEP_TEXT = (value: string) => value
const TYPE_PARSERS: Record<number, (value: string) => unknown> = {
  20: PARSE_INT8,
  1114: KEEP_TEXT,
  1082: KEEP_TEXT,
}

export type LockWaitListener = (dataDir: string, owner: LockOwner) => void

let defaultLockWaitListener: LockWaitListener | undefined

/**
 * Who hears that an embedded database is busy when the caller passes no onLockWait: the command layer sets this
 * once per process, so every command, read-only ones included, says at once whom it waits for.
 */
export function setLockWaitListener(listener: LockWaitListener | undefined): void {
  defaultLockWaitListener = listener
}

export async function openDatabase(
  target: DatabaseTarget,
  options: OpenDatabaseOptions = {},
): Promise<OpenDatabase> {
  return target.backend === 'pglite'
    ? openPglite(target, options)
    : openPostgres(target.url, target.redacted, options)
}

/** Opens the database, runs `fn`, and always closes it. The one way commands and tests get a connection. */
export async function withDatabase<T>(
  target: DatabaseTarget,
  fn: (open: OpenDatabase) => Promise<T>,
  options: OpenDatabaseOptions = {},
): Promise<T> {
  const opened = await openDatabase(target, options)
  try {
    return await fn(opened)
  } finally {
    await opened.close()
  }
}

async function openPglite(
  target: Extract<DatabaseTarget, {backend: 'pglite'}>,
  options: OpenDatabaseOptions,
): Promise<OpenDatabase> {
  const dataDir = target.dataDir
  let created = false
  let releaseLock = async () => {}
  if (dataDir !== null) {
    created = !(await pathExists(path.join(dataDir, 'PG_VERSION')))
    if (created && options.mustExist) {
      throw new AedbError(`There is no embedded database at ${target.redacted} yet.`, {
        code: 'DATABASE_MISSING',
        exit: EXIT.DATABASE,
        suggestions: ['Run `aedb init` to create it.'],
      })
    }
    const onWait = options.onLockWait ?? defaultLockWaitListener
    try {
      await makeFolder(path.dirname(dataDir))
      releaseLock = await lockPgliteFolder({
        dataDir,
        timeoutMs: options.pgliteLockTimeoutMs ?? 60_000,
        ...(onWait ? {onWait: (owner) => onWait(dataDir, owner)} : {}),
      })
    } catch (error) {
      throw userPathError(error, dataDir, {code: 'DATABASE_FOLDER_UNUSABLE', exit: EXIT.DATABASE})
    }
  }
  let pglite: PGlite
  try {
    // One options object: PGlite ignores the second argument when the first is not a string (memory:), and the
    // parsers with it. Imported here so that commands on a server never load the embedded engine.
    const {PGlite} = await import('@electric-sql/pglite')
    pglite = new PGlite({...(dataDir === null ? {} : {dataDir}), parsers: TYPE_PARSERS})
    await pglite.waitReady
  } catch (error) {
    await releaseLock()
    throw new AedbError(`Could not open the embedded database at ${target.redacted}: ${String(error)}.`, {
      code: 'DATABASE_UNREACHABLE',
      exit: EXIT.DATABASE,
      suggestions: [
        'Check that the folder is a PGlite data folder written by aedb and that it is not damaged.',
      ],
      cause: error,
    })
  }
  const db = new Kysely<Database>({dialect: new PGliteDialect(pglite)})
  return {
    db,
    // Taking Kysely's one connection keeps its own queries out while the session runs.
    withSession: (fn) =>
      db.connection().execute(() =>
        fn({
          async query(text) {
            const r = await pglite.query<unknown[]>(text, [], {rowMode: 'array'})
            return {
              command: commandOf(text),
              rowCount: r.affectedRows ?? r.rows.length,
              fields: r.fields.map((f) => ({name: f.name, typeId: f.dataTypeID})),
              rows: r.rows,
            }
          },
        }),
      ),
    withCopySession: (fn) => withPgliteCopySession(db, pglite, fn),
    backend: 'pglite',
    location: target.redacted,
    created: created || dataDir === null,
    async close() {
      try {
        await db.destroy()
        await pglite.close()
      } finally {
        await releaseLock()
      }
    },
  }
}

async function openPostgres(
  url: string,
  redacted: string,
  options: OpenDatabaseOptions,
): Promise<OpenDatabase> {
  let created = false
  let pool = newPool(url, options)
  try {
    await connectOnce(pool)
  } catch (error) {
    await pool.end().catch(() => {})
    if (pgCode(error) === '3D000' && options.createDatabase) {
      await createServerDatabase(url, redacted)
      created = true
      pool = newPool(url, options)
    } else {
      throw connectionError(error, redacted)
    }
  }
  const db = new Kysely<Database>({dialect: new PostgresDialect({pool})})
  return {
    db,
    async withSession(fn) {
      const client = await pool.connect()
      let failed = false
      try {
        return await fn({
          async query(text) {
            const r = await client.query<unknown[]>({text, rowMode: 'array'})
            return {
              command: r.command,
              rowCount: r.rowCount,
              fields: (r.fields ?? []).map((f) => ({name: f.name, typeId: f.dataTypeID})),
              rows: r.rows,
            }
          },
        })
      } catch (error) {
        failed = true
        throw error
      } finally {
        // A connection whose session failed may still be inside its transaction: close it rather than reuse it.
        client.release(failed)
      }
    },
    copyOut: (query) => copyOutOf(pool, query),
    withCopySession: (fn) =>
      withPostgresCopySession(
        {
          connectionString: url,
          application_name: options.applicationName ?? applicationName(),
          types: {getTypeParser: getTypeParser as never},
        },
        fn,
      ),
    backend: 'postgres',
    location: redacted,
    created,
    async close() {
      await db.destroy()
    },
  }
}

async function* copyOutOf(pool: pg.Pool, query: string): AsyncGenerator<Buffer> {
  const client = await pool.connect()
  let done = false
  try {
    // 3 prints every double exactly (shortest form from PostgreSQL 12 on), whatever the server's default.
    await client.query('set extra_float_digits = 3')
    for await (const chunk of client.query(copyTo(`copy (${query}) to stdout`))) yield chunk as Buffer
    await client.query('reset extra_float_digits')
    done = true
  } finally {
    client.release(!done)
  }
}

function getTypeParser(oid: number, format?: 'text' | 'binary') {
  return TYPE_PARSERS[oid] ?? pg.types.getTypeParser(oid, format ?? 'text')
}

// PGlite does not report the command tag; its first word is what psql would print.
function commandOf(text: string): string {
  return (
    /^\s*([a-z]+)/i.exec(text.replace(/^(\s*(--[^\n]*\n|\/\*[\s\S]*?\*\/))*/, ''))?.[1] ?? ''
  ).toUpperCase()
}

export function applicationName(): string {
  return `aedb (pid ${process.pid} on ${hostname()})`.slice(0, 63)
}

/**
 * A connection that gets no answer within this long fails (an unreachable host would otherwise wait for TCP's own
 * timeout, minutes). Set on each client, not on the pool, where the same option would also fail a query that waits
 * longer than this for a free connection.
 */
const CONNECT_TIMEOUT_MS = 10_000

class TimedClient extends pg.Client {
  constructor(config: pg.ClientConfig = {}) {
    super({...config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS})
  }
}

function newPool(url: string, options: OpenDatabaseOptions): pg.Pool {
  const pool = new pg.Pool({
    Client: TimedClient,
    connectionString: url,
    max: options.poolSize ?? 4,
    application_name: options.applicationName ?? applicationName(),
    types: {getTypeParser: getTypeParser as never},
  })
  // An idle client's error (server restart) must not crash the process; the next query reports it.
  pool.on('error', () => {})
  return pool
}

/**
 * One connection, so an unreachable server, a refused login or a missing database is reported before any work
 * (with its SQLSTATE: 3D000 is a database to create). It stays in the pool for the first query.
 */
async function connectOnce(pool: pg.Pool): Promise<void> {
  const client = await pool.connect()
  client.release()
}

async function createServerDatabase(url: string, redacted: string): Promise<void> {
  const parsed = new URL(url)
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, ''))
  parsed.pathname = '/postgres'
  const client = new pg.Client({connectionString: parsed.toString(), connectionTimeoutMillis: 10_000})
  try {
    await client.connect()
    await client.query(`create database ${quoteIdent(name)}`)
  } catch (error) {
    if (pgCode(error) === '42P04') return
    throw new AedbError(
      `The database in ${redacted} does not exist and could not be created: ${errorText(error)}.`,
      {
        code: 'DATABASE_CREATE_FAILED',
        exit: EXIT.DATABASE,
        suggestions: [
          `Ask an administrator to run CREATE DATABASE ${quoteIdent(name)}, or grant your role CREATEDB.`,
        ],
        cause: error,
      },
    )
  } finally {
    await client.end().catch(() => {})
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

export function pgCode(error: unknown): string | undefined {
  const code = (error as {code?: unknown} | null)?.code
  return typeof code === 'string' ? code : undefined
}

function errorText(error: unknown): string {
  return redactSecrets(error instanceof Error ? error.message : String(error))
}

export function connectionError(error: unknown, redacted: string): AedbError {
  const code = pgCode(error)
  const text = errorText(error)
  if (code === '3D000') {
    return new AedbError(`The database in ${redacted} does not exist.`, {
      code: 'DATABASE_MISSING',
      exit: EXIT.DATABASE,
      suggestions: ['Run `aedb init` to create it and apply the migrations.'],
      cause: error,
    })
  }
  if (code === '28P01' || code === '28000') {
    return new AedbError(`The server at ${redacted} refused the login: ${text}.`, {
      code: 'DATABASE_REFUSED',
      exit: EXIT.DATABASE,
      suggestions: [
        'Check the user name and password in the URL, and the server pg_hba.conf rules for this host.',
      ],
      cause: error,
    })
  }
  return new AedbError(`Could not connect to the database at ${redacted}: ${text}.`, {
    code: 'DATABASE_UNREACHABLE',
    exit: EXIT.DATABASE,
    suggestions: [
      'Check that the server is running and accepts TCP connections on that host and port (pg_isready -h HOST -p PORT).',
      'Check --database-url, AEDB_DATABASE_URL, DATABASE_URL and AE_DATABASE_URL (in that order), or leave them unset to use the embedded database.',
    ],
    cause: error,
  })
}

async function pathExists(file: string): Promise<boolean> {
  try {
    await readFile(file)
    return true
  } catch {
    return false
  }
}
