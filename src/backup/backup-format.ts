import {z} from 'zod'

/**
 * The aedb backup format, version 1: a gzip stream of newline-delimited JSON.
 *
 *   {"format":"aedb-backup","formatVersion":1,...}          the header (BackupHeader)
 *   {"table":"runs","columns":[...],"primaryKey":[...]}      one table header per table, in load order
 *   ["<text>",null,...]                                      one JSON array per row: each column's PostgreSQL
 *                                                            text representation (or null), in column order
 *   {"tableEnd":"runs","rows":12,"sha256":"..."}             row count and SHA-256 of the table's row lines
 *   {"trailer":true,"tables":{...},"contentSha256":"..."}    the manifest again, and the SHA-256 of every line
 *                                                            before the trailer (header included)
 *
 * Every line hashed is hashed with its trailing "\n". Values are text as PostgreSQL prints it with the session
 * settings of BACKUP_SESSION_SETTINGS, so float8 (NaN, ±Infinity, shortest exact digits), timestamps (microseconds,
 * UTC), jsonb, arrays and bigint survive exactly and read the same from PGlite and from a server.
 */
export const BACKUP_FORMAT = 'aedb-backup'
export const BACKUP_FORMAT_VERSION = 1

/** Set (local to the transaction) before reading or writing rows, so text representations do not depend on the server. */
export const BACKUP_SESSION_SETTINGS = [
  "set local timezone = 'UTC'",
  "set local datestyle = 'ISO, YMD'",
  "set local intervalstyle = 'postgres'",
  'set local extra_float_digits = 1',
  "set local bytea_output = 'hex'",
] as const

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/)

export const BackupColumn = z.object({name: z.string().min(1), type: z.string().min(1)})
export type BackupColumn = z.infer<typeof BackupColumn>

export const BackupHeader = z.object({
  format: z.literal(BACKUP_FORMAT),
  formatVersion: z.number().int().positive(),
  aedbVersion: z.string(),
  /** The newest migration applied to the database backed up. */
  schemaVersion: z.string(),
  migrations: z.array(z.object({name: z.string(), checksum: z.string()})),
  createdAt: z.string(),
  backend: z.enum(['pglite', 'postgres']),
  tables: z.array(z.string()),
})
export type BackupHeader = z.infer<typeof BackupHeader>

export const TableHeader = z.object({
  table: z.string().min(1),
  columns: z.array(BackupColumn).min(1),
  primaryKey: z.array(z.string()),
})
export type TableHeader = z.infer<typeof TableHeader>

export const TableEnd = z.object({
  tableEnd: z.string(),
  rows: z.number().int().nonnegative(),
  sha256: sha256Hex,
})
export type TableEnd = z.infer<typeof TableEnd>

export const TableManifest = z.object({rows: z.number().int().nonnegative(), sha256: sha256Hex})
export type TableManifest = z.infer<typeof TableManifest>

export const BackupTrailer = z.object({
  trailer: z.literal(true),
  tables: z.record(z.string(), TableManifest),
  contentSha256: sha256Hex,
})
export type BackupTrailer = z.infer<typeof BackupTrailer>

/** The `FILE.sha256` beside a backup, in `sha256sum` format so `sha256sum -c` checks it too. */
export function sidecarPath(file: string): string {
  return `${file}.sha256`
}
