import {parse as parseYaml, YAMLError} from 'yaml'
import {z} from 'zod'
import type {JsonValue} from './tolerant-json.js'

/** One profile of config.yaml, in either era's shape (spec section 3.2). */
export interface ConfigProfile {
  name: string
  /** JSON-path-like location in config.yaml, e.g. `profiles[1]`. */
  path: string
  sourceFolder: string | null
  strategy: string | null
  outputFormat: 'opus' | 'wav' | 'aac' | null
  outputBitrate: number | null
  /** Keys no column holds (`remote`, `target_lufs`, `stem_gains`, an unknown format …), verbatim. */
  extra: Record<string, JsonValue>
}

export interface ConfigProblem {
  path: string
  message: string
}

export interface StemsetConfig {
  profiles: ConfigProfile[]
  problems: ConfigProblem[]
}

const FORMATS = ['opus', 'wav', 'aac'] as const

const PROFILE_SCHEMA = z.object({
  name: z
    .string({message: 'expected the profile name as a string'})
    .min(1, {message: 'expected a non-empty name'}),
  source_folder: z.string({message: 'expected a path'}).nullable().optional(),
  strategy: z.string({message: 'expected a strategy name'}).nullable().optional(),
  output: z.record(z.string(), z.unknown(), {message: 'expected a mapping'}).nullable().optional(),
  output_format: z.unknown().optional(),
  opus_bitrate: z.unknown().optional(),
})

/** config.yaml cannot be used (not YAML, or a YAML alias bomb): the profiles then come from media/ folders only. */
export class ConfigUnreadableError extends Error {}

/**
 * At most this many alias expansions: a handful of anchors is what a real config.yaml has; thousands are the
 * "billion laughs" that would exhaust memory.
 */
const MAX_ALIAS_COUNT = 100

function parseConfigYaml(text: string): unknown {
  try {
    return parseYaml(text, {prettyErrors: true, maxAliasCount: MAX_ALIAS_COUNT}) as unknown
  } catch (error) {
    if (error instanceof YAMLError) throw error
    // yaml throws a plain ReferenceError for an alias bomb.
    throw new ConfigUnreadableError(
      `${(error as Error).message} (more than ${MAX_ALIAS_COUNT} alias expansions); expected a plain config.yaml`,
    )
  }
}

const KNOWN = new Set(['name', 'source_folder', 'strategy', 'output', 'output_format', 'opus_bitrate'])

/**
 * Parses config.yaml without substituting anything: `${VAR}` placeholders stay the literal text they are, so no
 * variable has to be set (upstream refused to start when one was missing). Throws on YAML syntax errors.
 */
export function readStemsetConfig(text: string): StemsetConfig {
  const document = parseConfigYaml(text)
  const problems: ConfigProblem[] = []
  const profiles: ConfigProfile[] = []
  if (document === null || document === undefined) return {profiles, problems}
  if (typeof document !== 'object' || Array.isArray(document)) {
    return {profiles, problems: [{path: '', message: 'expected a mapping at the top level'}]}
  }
  const list = (document as Record<string, unknown>).profiles
  if (list === undefined || list === null) return {profiles, problems}
  if (!Array.isArray(list))
    return {profiles, problems: [{path: 'profiles', message: 'expected a list of profiles'}]}
  const seen = new Set<string>()
  list.forEach((entry, index) => {
    const path = `profiles[${index}]`
    const parsed = PROFILE_SCHEMA.safeParse(entry)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      problems.push({path: [path, ...issue.path.map(String)].join('.'), message: issue.message})
      return
    }
    const p = parsed.data
    const name = p.name.normalize('NFC')
    if (seen.has(name)) {
      problems.push({
        path: `${path}.name`,
        message: `profile ${JSON.stringify(name)} is defined twice; the first one is used`,
      })
      return
    }
    seen.add(name)
    const extra: Record<string, JsonValue> = {}
    for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
      if (!KNOWN.has(key)) extra[key] = toJson(value)
    }
    const output = p.output ?? {}
    for (const [key, value] of Object.entries(output)) {
      if (key !== 'format' && key !== 'bitrate') extra[`output.${key}`] = toJson(value)
    }
    const rawFormat = output.format ?? p.output_format ?? null
    const format = FORMATS.find((f) => f === rawFormat) ?? null
    if (rawFormat !== null && format === null) extra.output_format = toJson(rawFormat)
    const rawBitrate = output.bitrate ?? p.opus_bitrate ?? null
    const bitrate = typeof rawBitrate === 'number' && Number.isInteger(rawBitrate) ? rawBitrate : null
    if (rawBitrate !== null && bitrate === null) extra.output_bitrate = toJson(rawBitrate)
    profiles.push({
      name,
      path,
      sourceFolder: p.source_folder ?? null,
      strategy: p.strategy ?? null,
      outputFormat: format,
      outputBitrate: bitrate,
      extra,
    })
  })
  return {profiles, problems}
}

function toJson(value: unknown): JsonValue {
  return JSON.parse(JSON.stringify(value ?? null)) as JsonValue
}
