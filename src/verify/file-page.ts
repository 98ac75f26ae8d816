import path from 'node:path'
import {type Kysely, type RawBuilder, sql} from 'kysely'
import type {Database} from '../db/schema.js'

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
  /** The ids, 36 characters each. */
  ids: string
  relPaths: string[]
  /** No path of the page needs path.join's normalisation (see plainPaths). */
  plainPaths: boolean
  /** The root of each file, as an index into `roots`. */
  rootOf: Uint32Array
  roots: readonly PageRoot[]
  /** '1' where the file was present at import, '0' where not. */
  present: string
  sizes: Array<number | null>
  mtimes: Array<number | null>
  /** The imported SHA-256s, 64 characters each (64 spaces for none, 64 '?' for one of another width). */
  hashes: string
  /** By position: a recorded hash that is not 64 characters (only after a hand edit with the schema's check dropped). */
  oddHashes: Map<number, string>
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
 * the server's time on such a page). The rare columns name their file by id (see byPosition).
 */
export async function readFilePage(props: {
  db: Kysely<Database>
  roots: ReadonlyMap<string, PageRoot>
  after: string | null
  scope: RawBuilder<unknown>
  sources: boolean
  limit: number
}): Promise<FilePage> {
  const importer = props.sources
    ? sql`(select min(si.importer) from source_imports si where si.file_id = f.id)`
    : sql`null::text`
  const {rows} = await sql<AggregatedPage>`
    select count(*)::int as n, string_agg(p.id::text, '') as ids, string_agg(p.root_id::text, '') as root_ids,
      json_agg(p.rel_path)::text as rel_paths, string_agg(case when p.present then '1' else '0' end, '') as present,
      json_agg(p.size_bytes)::text as sizes, json_agg(p.mtime_ms)::text as mtimes,
      string_agg(case when p.sha256 is null then ${sql.lit(NO_HASH)} when length(p.sha256) = ${sql.lit(HASH_CHARS)} then p.sha256
        else ${sql.lit(ODD_HASH)} end, '') as hashes,
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
  return toPage(rows[0]!, props.roots)
}

interface AggregatedPage {
  n: number
  ids: string | null
  root_ids: string | null
  rel_paths: string | null
  present: string | null
  sizes: string | null
  mtimes: string | null
  hashes: string | null
  odd_hashes: string | null
  importers: string | null
  seen: string | null
}

function toPage(row: AggregatedPage, byId: ReadonlyMap<string, PageRoot>): FilePage {
  const n = row.n
  const ids = row.ids ?? ''
  const hashes = row.hashes ?? ''
  if (ids.length !== n * UUID_CHARS || hashes.length !== n * HASH_CHARS) {
    throw new Error('verify: a page of files came back with ids or hashes of an unexpected width')
  }
  assertIdOrder(ids, n)
  const {rootOf, roots} = rootsOf(row.root_ids ?? '', n, byId)
  return {
    length: n,
    ids,
    relPaths: JSON.parse(row.rel_paths ?? '[]'),
    plainPaths: plainPaths(row.rel_paths ?? '[]'),
    rootOf,
    roots,
    present: row.present ?? '',
    sizes: JSON.parse(row.sizes ?? '[]'),
    mtimes: JSON.parse(row.mtimes ?? '[]'),
    hashes,
    oddHashes: byPosition<string>(ids, n, row.odd_hashes),
    importers: byPosition<'excel' | 'json'>(ids, n, row.importers),
    seen: byPosition<Seen>(ids, n, row.seen, true),
  }
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

/** Each file's root as an index: a run of files under one root is matched in place, without a string per file. */
function rootsOf(
  rootIds: string,
  n: number,
  byId: ReadonlyMap<string, PageRoot>,
): {rootOf: Uint32Array; roots: PageRoot[]} {
  const rootOf = new Uint32Array(n)
  const roots: PageRoot[] = []
  const known = new Map<string, number>()
  let current = ''
  let index = -1
  for (let i = 0; i < n; i++) {
    if (index < 0 || !rootIds.startsWith(current, i * UUID_CHARS)) {
      current = rootIds.slice(i * UUID_CHARS, (i + 1) * UUID_CHARS)
      index = known.get(current) ?? -1
      if (index < 0) {
        // files.root_id references import_roots, which a verify's read-only run cannot see change.
        index = roots.push(byId.get(current)!) - 1
        known.set(current, index)
      }
    }
    rootOf[i] = index
  }
  return {rootOf, roots}
}

export function idAt(page: FilePage, i: number): string {
  return page.ids.slice(i * UUID_CHARS, (i + 1) * UUID_CHARS)
}

export function isPresentAt(page: FilePage, i: number): boolean {
  return page.present.charCodeAt(i) === 49
}

export function hasHashAt(page: FilePage, i: number): boolean {
  return page.hashes.charCodeAt(i * HASH_CHARS) !== 32
}

/** Whether file i was imported with this SHA-256 (compared in place). */
export function hashIsAt(page: FilePage, i: number, sha256: string): boolean {
  if (page.oddHashes.size > 0 && page.oddHashes.has(i)) return page.oddHashes.get(i) === sha256
  return sha256.length === HASH_CHARS && page.hashes.startsWith(sha256, i * HASH_CHARS)
}

function hashAt(page: FilePage, i: number): string | null {
  if (!hasHashAt(page, i)) return null
  return page.oddHashes.get(i) ?? page.hashes.slice(i * HASH_CHARS, (i + 1) * HASH_CHARS)
}

/** Where file i is on disk now (its root after --root-map). */
export function absoluteAt(page: FilePage, i: number): string {
  const root = page.roots[page.rootOf[i]!]!.mappedRoot
  const rel = page.relPaths[i]!
  return page.plainPaths && plainRoot(root) ? `${root}/${rel}` : underRoot(root, rel)
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
