import path from 'node:path'
import {type Kysely, type RawBuilder, sql} from 'kysely'
import type {Database} from '../db/schema.js'
import {toArrayLiteral} from '../db/upsert-rows.js'

/** One recorded file, with what the last verify remembered of it: built only for a file that needs a look. */
export interface FileToCheck {
  id: string
  root: string
  rel_path: string
  present: boolean
  size_bytes: number | null
  mtime_ms: number | null
  sha256: string | null
  importer: 'excel' | 'json' | null
  /** What the last verify saw, remembered only where it differed from the import. */
  seen_present: boolean | null
  seen_size: number | null
  seen_mtime_ms: number | null
  seen_sha256: string | null
  /** The root after --root-map, and the file's path under it. */
  mappedRoot: string
  absolute: string
}

/** An import root's recorded path and where --root-map puts it. */
export interface PageRoot {
  root: string
  mappedRoot: string
}

type Seen = [present: boolean, size: number | null, mtimeMs: number | null, sha256: string | null]

/**
 * A page of files in id order, column by column as the server aggregated them: one row crosses from the database
 * instead of one per file, and the common file (as imported, nothing remembered) is judged off these columns
 * without an object or a string of its own. Ids and hashes are fixed-width strings read in place.
 */
export interface FilePage {
  length: number
  /** Fewer files than asked for came back: no file in scope comes after this page (when it was read). */
  last: boolean
  /** The ids, 36 characters each. */
  ids: string
  relPaths: string[]
  /** No path of the page needs path.join's normalisation (see plainPaths). */
  plainPaths: boolean
  /** The root of each file, as an index into `roots`. */
  rootOf: Uint32Array
  roots: readonly PageRoot[]
  /** By root: its mapped path and a slash, where a plain path is appended to it as it is (else null). */
  rootPrefixes: Array<string | null>
  /** Per file, a digit '0'-'3': +1 when it was present at import, +2 when a SHA-256 was recorded for it. */
  states: string
  sizes: Array<number | null>
  mtimes: Array<number | null>
  /**
   * The recorded SHA-256s, 64 characters each (64 spaces for none, 64 '?' for one of another width), when the page
   * was read with them (passes that hash every file); null when not, and readHashes reads those of the few files
   * that need a look.
   */
  hashes: string | null
  /** By position: a recorded hash that is not 64 characters, and the hashes readHashes read. */
  hashAt: Map<number, string>
  /** By position: the importer of an imported source, and what the last verify remembered (both rare). */
  importers: Map<number, 'excel' | 'json'>
  seen: Map<number, Seen>
}

const UUID_CHARS = 36
const HASH_CHARS = 64
const NO_HASH = ' '.repeat(HASH_CHARS)
const ODD_HASH = '?'.repeat(HASH_CHARS)

/**
 * The next `limit` files after `after` (by id) that `scope` (a condition on `f`) keeps. Every aggregate reads the
 * ordered page in one pass, so the columns line up; the rare ones name the file they belong to by id. Without
 * `sources` in scope no file is an imported source, so the per-file look-up of its importer is left out (a third of
 * the server's time on such a page). Without `hashes` the page says only which files have a recorded hash: the
 * hashes were 64 of the ~180 bytes per file that cross, and a stat-only pass compares none of them for a file
 * found as imported. A file under a root that is not in `roots` (an import that ran since they were read) stops
 * the read with UnknownRootError.
 */
export async function readFilePage(props: {
  db: Kysely<Database>
  roots: PageRoots
  after: string | null
  scope: RawBuilder<unknown>
  sources: boolean
  hashes: boolean
  limit: number
}): Promise<FilePage> {
  const importer = props.sources
    ? sql`(select min(si.importer) from source_imports si where si.file_id = f.id)`
    : sql`null::text`
  const hashes = props.hashes
    ? sql`string_agg(case when p.sha256 is null then ${sql.lit(NO_HASH)} when length(p.sha256) = ${sql.lit(HASH_CHARS)} then p.sha256
        else ${sql.lit(ODD_HASH)} end, '')`
    : sql`null::text`
  const {rows} = await sql<AggregatedPage>`
    select count(*)::int as n, string_agg(p.id::text, '') as ids,
      json_agg(array_position(${toArrayLiteral(props.roots.ids)}::uuid[], p.root_id))::text as root_at,
      json_agg(p.rel_path)::text as rel_paths,
      string_agg(case when p.present then (case when p.sha256 is null then '1' else '3' end)
        else (case when p.sha256 is null then '0' else '2' end) end, '') as states,
      json_agg(p.size_bytes)::text as sizes, json_agg(p.mtime_ms)::text as mtimes,
      ${hashes} as hashes,
      json_agg(json_build_array(p.id, p.sha256)) filter (where length(p.sha256) <> ${sql.lit(HASH_CHARS)})::text as odd_hashes,
      json_agg(json_build_array(p.id, p.importer)) filter (where p.importer is not null)::text as importers,
      json_agg(json_build_array(p.id, p.seen_present, p.seen_size, p.seen_mtime_ms, p.seen_sha256))
        filter (where p.seen_present is not null)::text as seen
    from (
      select f.id, f.root_id, f.rel_path, f.present, f.size_bytes, f.sha256,
        floor(extract(epoch from f.mtime) * 1000)::bigint as mtime_ms,
        ${importer} as importer,
        vf.present as seen_present, vf.size_bytes as seen_size, vf.sha256 as seen_sha256,
        floor(extract(epoch from vf.mtime) * 1000)::bigint as seen_mtime_ms
      from files f
      left join verify_files vf on vf.file_id = f.id
      where (${props.after}::uuid is null or f.id > ${props.after}::uuid) and ${props.scope}
      order by f.id
      limit ${sql.lit(props.limit)}
    ) p`.execute(props.db)
  return {...toPage(rows[0]!, props.roots), last: rows[0]!.n < props.limit}
}

/** The import roots a pass knows, in a fixed order: a page names each file's root by its index in `ids`. */
export interface PageRoots {
  ids: readonly string[]
  roots: readonly PageRoot[]
}

/** A page holds a file under an import root the pass did not read: read the roots again, then the page. */
export class UnknownRootError extends Error {}

/**
 * The recorded SHA-256s of the files at `positions` that have one, for a page read without hashes (only files that
 * are not as imported need them: a stat-only pass reads them for the few that changed).
 */
export async function readHashes(
  db: Kysely<Database>,
  page: FilePage,
  positions: readonly number[],
): Promise<void> {
  if (page.hashes !== null) return
  const wanted = positions.filter((i) => hasHashAt(page, i) && !page.hashAt.has(i))
  if (wanted.length === 0) return
  const ids = wanted.map((i) => idAt(page, i))
  const {rows} = await sql<{id: string; sha256: string | null}>`
    select id::text as id, sha256 from files where id = any(${toArrayLiteral(ids)}::uuid[])`.execute(db)
  for (const row of rows) {
    if (row.sha256 !== null) page.hashAt.set(positionOf(page.ids, page.length, row.id), row.sha256)
  }
}

interface AggregatedPage {
  n: number
  ids: string | null
  root_at: string | null
  rel_paths: string | null
  states: string | null
  sizes: string | null
  mtimes: string | null
  hashes: string | null
  odd_hashes: string | null
  importers: string | null
  seen: string | null
}

function toPage(row: AggregatedPage, roots: PageRoots): Omit<FilePage, 'last'> {
  const n = row.n
  const ids = row.ids ?? ''
  const hashes = row.hashes
  if (ids.length !== n * UUID_CHARS || (hashes !== null && hashes.length !== n * HASH_CHARS)) {
    throw new Error('verify: a page of files came back with ids or hashes of an unexpected width')
  }
  assertIdOrder(ids, n)
  return {
    length: n,
    ids,
    relPaths: JSON.parse(row.rel_paths ?? '[]'),
    plainPaths: plainPaths(row.rel_paths ?? '[]'),
    rootOf: rootIndexes(row.root_at ?? '[]', n),
    roots: roots.roots,
    rootPrefixes: roots.roots.map((r) => (plainRoot(r.mappedRoot) ? `${r.mappedRoot}/` : null)),
    states: row.states ?? '',
    sizes: JSON.parse(row.sizes ?? '[]'),
    mtimes: JSON.parse(row.mtimes ?? '[]'),
    hashes,
    hashAt: byPosition<string>(ids, n, row.odd_hashes),
    importers: byPosition<'excel' | 'json'>(ids, n, row.importers),
    seen: byPosition<Seen>(ids, n, row.seen, true),
  }
}

/** array_position's 1-based indexes as 0-based; null (a root the pass does not know) throws UnknownRootError. */
function rootIndexes(json: string, n: number): Uint32Array {
  const at = JSON.parse(json) as Array<number | null>
  const rootOf = new Uint32Array(n)
  for (let i = 0; i < n; i++) {
    const index = at[i]
    if (index === null || index === undefined) {
      throw new UnknownRootError('verify: a file is under an import root that was added during the run')
    }
    rootOf[i] = index - 1
  }
  return rootOf
}

/**
 * A rare column, `[[id, value]]` or with `rest` `[[id, ...values]]`, by the position of its file in the page. The
 * server names the file by id rather than by position: numbering the rows (a window) was a quarter of its time.
 */
function byPosition<T>(ids: string, n: number, json: string | null, rest = false): Map<number, T> {
  const entries = JSON.parse(json ?? '[]') as Array<[string, ...unknown[]]>
  return new Map(entries.map(([id, ...values]) => [positionOf(ids, n, id), (rest ? values : values[0]) as T]))
}

/** Where `id` is in the page's ids (in strictly increasing order, as assertIdOrder made sure). */
function positionOf(ids: string, n: number, id: string): number {
  let low = 0
  let high = n - 1
  while (low <= high) {
    const middle = (low + high) >>> 1
    const at = ids.slice(middle * UUID_CHARS, (middle + 1) * UUID_CHARS)
    if (at === id) return middle
    if (at < id) low = middle + 1
    else high = middle - 1
  }
  throw new Error(`verify: a page of files names ${id}, which is not among its ids`)
}

/**
 * The aggregates read the page in the order the sorted sub-query gives it, which PostgreSQL does not promise in
 * writing; finding a rare column's file by its id, where a time-limited run stops and where the next page starts all
 * rely on it. A page out of id order stops the run (exit 1) instead of checking files against the wrong rows.
 */
function assertIdOrder(ids: string, n: number): void {
  for (let i = 1; i < n; i++) {
    if (!increasesAt(ids, i * UUID_CHARS)) {
      const id = ids.slice(i * UUID_CHARS, (i + 1) * UUID_CHARS)
      throw new Error(`verify: a page of files came back out of id order at ${id}`)
    }
  }
}

/** Whether the id at `at` comes after the one before it, compared in place (no string per id). */
function increasesAt(ids: string, at: number): boolean {
  for (let k = 0; k < UUID_CHARS; k++) {
    const previous = ids.charCodeAt(at - UUID_CHARS + k)
    const current = ids.charCodeAt(at + k)
    if (current !== previous) return current > previous
  }
  return false
}

export function idAt(page: FilePage, i: number): string {
  return page.ids.slice(i * UUID_CHARS, (i + 1) * UUID_CHARS)
}

export function isPresentAt(page: FilePage, i: number): boolean {
  return (page.states.charCodeAt(i) & 1) !== 0
}

export function hasHashAt(page: FilePage, i: number): boolean {
  return (page.states.charCodeAt(i) & 2) !== 0
}

/**
 * Whether file i was imported with this SHA-256 (compared in place). Only for a file with a recorded hash that
 * can be compared: the page was read with hashes, or readHashes read its hash.
 */
export function hashIsAt(page: FilePage, i: number, sha256: string): boolean {
  if (page.hashAt.size > 0 && page.hashAt.has(i)) return page.hashAt.get(i) === sha256
  return (
    sha256.length === HASH_CHARS && page.hashes !== null && page.hashes.startsWith(sha256, i * HASH_CHARS)
  )
}

/** Whether hashIsAt can answer for file i without reading its hash first. */
export function hashKnownAt(page: FilePage, i: number): boolean {
  return page.hashes !== null || page.hashAt.has(i)
}

function hashAt(page: FilePage, i: number): string | null {
  if (!hasHashAt(page, i)) return null
  const known = page.hashAt.get(i)
  if (known !== undefined) return known
  if (page.hashes === null) throw new Error(`verify: the recorded hash of ${idAt(page, i)} was not read`)
  return page.hashes.slice(i * HASH_CHARS, (i + 1) * HASH_CHARS)
}

/** Where file i is on disk now (its root after --root-map). */
export function absoluteAt(page: FilePage, i: number): string {
  const root = page.rootOf[i]!
  const prefix = page.plainPaths ? page.rootPrefixes[root] : null
  const rel = page.relPaths[i]!
  return prefix ? prefix + rel : underRoot(page.roots[root]!.mappedRoot, rel)
}

/**
 * Whether every path in the page's JSON array is a normal relative POSIX path (underRoot's test), told from the
 * JSON text once instead of path by path: the JSON of a path that fails the test holds `..`, `//`, `/./`, or a
 * string that starts with `/` or `./`, ends with `/` or `/.`, or is `.` or empty. `.` and `/` are never escaped
 * in JSON, and a quote inside a path is (`\"`), which can only make the test fail where it need not.
 */
function plainPaths(json: string): boolean {
  if (path.sep !== '/') return false
  for (const sign of ['..', '//', '/./', '"/', '"./', '/"', '/."', '"."', '""']) {
    if (json.includes(sign)) return false
  }
  return true
}

function plainRoot(root: string): boolean {
  return path.sep === '/' && root.length > 1 && !root.endsWith('/')
}

/** File i as one object, for the few files that are not exactly as imported. */
export function fileAt(page: FilePage, i: number): FileToCheck {
  const {root, mappedRoot} = page.roots[page.rootOf[i]!]!
  const seen = page.seen.get(i)
  return {
    id: idAt(page, i),
    root,
    rel_path: page.relPaths[i]!,
    present: isPresentAt(page, i),
    size_bytes: page.sizes[i]!,
    mtime_ms: page.mtimes[i]!,
    sha256: hashAt(page, i),
    importer: page.importers.get(i) ?? null,
    seen_present: seen ? seen[0] : null,
    seen_size: seen ? seen[1] : null,
    seen_mtime_ms: seen ? seen[2] : null,
    seen_sha256: seen ? seen[3] : null,
    mappedRoot,
    absolute: absoluteAt(page, i),
  }
}

/** A normal relative POSIX path is appended as it is; anything else goes through path.join (which normalises). */
function underRoot(root: string, rel: string): string {
  const plain =
    path.sep === '/' &&
    root.length > 1 &&
    !root.endsWith('/') &&
    !rel.startsWith('/') &&
    !rel.startsWith('./') &&
    !rel.includes('..') &&
    !rel.includes('//') &&
    !rel.includes('/./') &&
    !rel.endsWith('/.') &&
    !rel.endsWith('/') &&
    rel !== '.' &&
    rel !== ''
  return plain ? `${root}/${rel}` : path.join(root, rel)
}
