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

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return `__non_finite__${String(v)}`
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, (v as Record<string, unknown>)[k]]),
      )
    }
    return v
  })
}
