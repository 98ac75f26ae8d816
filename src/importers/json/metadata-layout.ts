import {z} from 'zod'
import type {JsonValue} from './tolerant-json.js'

/** The metadata.json layouts of spec section 2, plus `none` for folders from before metadata.json existed. */
export type MetadataLayout = 'none' | 'v0' | 'v1a' | 'v1b' | 'v2' | 'v3' | 'v4'

export interface StemEntry {
  /** The object key as written (stem type upstream stored; the inner `stem_type` is redundant). */
  key: string
  /** JSON path of the stem object, e.g. `stems.vocals` (v1+) or `vocals` (v0). */
  path: string
  stemUrl: string | null
  waveformUrl: string | null
  measuredLufs: number | null
  targetLufs: number | null
  peakAmplitude: number | null
  gainDb: number | null
  /** Keys no column holds, verbatim (an inner `stem_type` that differs from the key lands here too). */
  extra: Record<string, JsonValue>
}

export interface ParsedMetadata {
  layout: Exclude<MetadataLayout, 'none'>
  /** v4's `display_name` as written (`""` included); null when the layout has none. */
  displayName: string | null
  stems: StemEntry[]
  extra: Record<string, JsonValue>
}

/** A metadata.json that is valid JSON but not a metadata file of any known layout. */
export class MetadataShapeError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path || '(top level)'}: ${reason}`)
    this.name = 'MetadataShapeError'
  }
}

// Python floats: -Infinity and NaN included (zod's z.number() refuses them).
const FLOAT = z.custom<number>((v) => typeof v === 'number', {message: 'expected a number'})

const STEM_SCHEMA = z.object({
  stem_type: z.string({message: 'expected a string'}).optional(),
  measured_lufs: FLOAT.nullable().optional(),
  target_lufs: FLOAT.nullable().optional(),
  peak_amplitude: FLOAT.nullable().optional(),
  stem_gain_adjustment_db: FLOAT.nullable().optional(),
  stem_url: z.string({message: 'expected a relative file name'}).nullable().optional(),
  waveform_url: z.string({message: 'expected a string'}).nullable().optional(),
})

const STEM_KEYS = new Set(Object.keys(STEM_SCHEMA.shape))
const TOP_KEYS = new Set(['stems', 'display_name'])

/** Detects the layout by shape (spec section 7.1) and returns typed stems; throws MetadataShapeError. */
export function parseMetadata(value: JsonValue): ParsedMetadata {
  if (!isObject(value)) throw new MetadataShapeError('', `expected a JSON object, found ${typeName(value)}`)
  if ('stems' in value) {
    const stemsValue = value.stems
    if (!isObject(stemsValue))
      throw new MetadataShapeError(
        'stems',
        `expected an object keyed by stem name, found ${typeName(stemsValue)}`,
      )
    const displayName = 'display_name' in value ? value.display_name : undefined
    if (displayName !== undefined && typeof displayName !== 'string') {
      throw new MetadataShapeError('display_name', `expected a string, found ${typeName(displayName)}`)
    }
    const stems = Object.entries(stemsValue).map(([key, stem]) =>
      parseStem(key, stem, `stems${pathKey(key)}`),
    )
    const raw = Object.values(stemsValue).filter(isObject)
    const has = (field: string) => raw.some((stem) => field in stem)
    const layout =
      displayName !== undefined
        ? 'v4'
        : has('stem_url')
          ? 'v3'
          : has('peak_amplitude') || has('stem_gain_adjustment_db')
            ? 'v2'
            : has('waveform_url')
              ? 'v1b'
              : 'v1a'
    const extra = Object.fromEntries(Object.entries(value).filter(([k]) => !TOP_KEYS.has(k)))
    return {layout, displayName: displayName ?? null, stems, extra}
  }
  // v0: the top level is the map of stems itself; anything that is not an object cannot be a stem.
  const stems = Object.entries(value)
    .filter(([, stem]) => isObject(stem))
    .map(([key, stem]) => parseStem(key, stem, pathKey(key).replace(/^\./, '')))
  const extra = Object.fromEntries(Object.entries(value).filter(([, v]) => !isObject(v)))
  return {layout: 'v0', displayName: null, stems, extra}
}

function parseStem(key: string, value: JsonValue, path: string): StemEntry {
  if (!isObject(value)) throw new MetadataShapeError(path, `expected a stem object, found ${typeName(value)}`)
  const parsed = STEM_SCHEMA.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const field = issue.path.map((p) => pathKey(String(p))).join('')
    throw new MetadataShapeError(
      `${path}${field}`,
      `${issue.message}, found ${typeName(getPath(value, issue.path))}`,
    )
  }
  const stem = parsed.data
  const extra: Record<string, JsonValue> = Object.fromEntries(
    Object.entries(value).filter(([k]) => !STEM_KEYS.has(k)),
  )
  if (stem.stem_type !== undefined && stem.stem_type !== key) extra.stem_type = stem.stem_type
  return {
    key,
    path,
    stemUrl: stem.stem_url ?? null,
    waveformUrl: stem.waveform_url ?? null,
    measuredLufs: stem.measured_lufs ?? null,
    targetLufs: stem.target_lufs ?? null,
    peakAmplitude: stem.peak_amplitude ?? null,
    gainDb: stem.stem_gain_adjustment_db ?? null,
    extra,
  }
}

/** `.vocals` for plain keys, `["weird key"]` otherwise: a readable JSON path segment. */
export function pathKey(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
}

function isObject(value: unknown): value is {[key: string]: JsonValue} {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function typeName(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${String(value)}`
}

function getPath(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value
  for (const key of path) current = (current as Record<PropertyKey, unknown> | undefined)?.[key]
  return current
}
