import {createHash} from 'node:crypto'

/**
 * A UUID (version 5 layout) derived from a row's natural key. Every process computes the same id for the same
 * key, so parents and children can be written in batches without reading ids back, and concurrent importers
 * converge on one row.
 */
export function deterministicId(
  kind: string,
  ...key: ReadonlyArray<string | number | boolean | null>
): string {
  const bytes = createHash('sha1')
    .update(JSON.stringify([kind, ...key]))
    .digest()
    .subarray(0, 16)
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** SHA-256 of a value's canonical JSON (object keys sorted): equal content, equal hash. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}

/**
 * JSON with object keys sorted by code unit, non-finite numbers as `"__non_finite__NaN"` (and so on), and otherwise
 * exactly what `JSON.stringify` writes (`toJSON` honoured, `undefined` and functions left out of objects and `null`
 * in arrays). Stored content hashes depend on every byte, so `test/db/canonical-json.test.ts` holds it to the
 * original definition (a `JSON.stringify` replacer that rebuilt each object with sorted keys); written out by hand
 * because that replacer was a tenth of a first backfill's main-thread CPU.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, '') ?? (undefined as unknown as string)
}

function canonical(input: unknown, key: string): string | undefined {
  let value = input
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as {toJSON?: unknown}).toJSON === 'function'
  )
    value = (value as {toJSON: (key: string) => unknown}).toJSON(key)
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : JSON.stringify(`__non_finite__${String(value)}`)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      if (value === null) return 'null'
      if (Array.isArray(value)) return canonicalArray(value)
      return canonicalObject(value as Record<string, unknown>)
    case 'bigint':
      return JSON.stringify(value)
    default:
      return undefined
  }
}

function canonicalArray(items: readonly unknown[]): string {
  let out = '['
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ','
    out += canonical(items[i], String(i)) ?? 'null'
  }
  return `${out}]`
}

function canonicalObject(object: Record<string, unknown>): string {
  const keys = sortedKeys(object)
  let out = '{'
  let first = true
  for (const key of keys) {
    const text = canonical(object[key], key)
    if (text === undefined) continue
    out += `${first ? '' : ','}${JSON.stringify(key)}:${text}`
    first = false
  }
  return `${out}}`
}

/**
 * The keys in the order the original definition wrote them: it rebuilt the object with its keys sorted, and an
 * object lists array-index keys (`"9"`, `"10"`) first in numeric order whatever the insertion order, then the rest
 * in the order inserted, i.e. sorted.
 */
function sortedKeys(object: Record<string, unknown>): string[] {
  const keys = Object.keys(object)
  let indexes = 0
  while (indexes < keys.length && isArrayIndex(keys[indexes]!)) indexes++
  if (indexes === 0) return keys.sort()
  return [...keys.slice(0, indexes), ...keys.slice(indexes).sort()]
}

function isArrayIndex(key: string): boolean {
  return /^(?:0|[1-9]\d{0,9})$/.test(key) && Number(key) < 4294967295
}
