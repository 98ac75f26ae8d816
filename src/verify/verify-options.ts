import {AedbError, EXIT} from '../errors.js'
import {VERIFY_CHECKS, type VerifyCheck} from './finding.js'
import {parseTimeLimit} from './parse-time-limit.js'
import {parseRootMapping, type RootMapping} from './root-map.js'

export interface VerifyOptionFlags {
  check?: string | undefined
  rootMap?: readonly string[] | undefined
  timeLimit?: string | undefined
}

export interface VerifyOptions {
  checks?: VerifyCheck[]
  rootMap: RootMapping[]
  timeLimitMs: number | null
}

/** The command line's --check, --root-map and --time-limit as typed options; a usage error (exit 2) otherwise. */
export function parseVerifyOptions(flags: VerifyOptionFlags): VerifyOptions {
  const checks = flags.check === undefined ? undefined : parseChecks(flags.check)
  return {
    ...(checks ? {checks} : {}),
    rootMap: (flags.rootMap ?? []).map(rootMapping),
    timeLimitMs: flags.timeLimit === undefined ? null : timeLimit(flags.timeLimit),
  }
}

/** Check names in any case, as the README promises for option values: `--check FILES,Rows`. */
function parseChecks(text: string): VerifyCheck[] {
  const names = text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
  const unknown = names.filter((n) => !(VERIFY_CHECKS as readonly string[]).includes(n))
  if (unknown.length > 0 || names.length === 0) {
    throw usage(
      `--check: unknown check ${unknown.join(', ') || '(none)'}.`,
      `Use any of ${VERIFY_CHECKS.join(',')}.`,
    )
  }
  return names as VerifyCheck[]
}

function rootMapping(text: string): RootMapping {
  const mapping = parseRootMapping(text)
  if (!mapping)
    throw usage(
      `--root-map ${JSON.stringify(text)} is not OLD=NEW.`,
      'Example: --root-map /mnt/old=/data/new',
    )
  return mapping
}

function timeLimit(text: string): number {
  const ms = parseTimeLimit(text)
  if (ms === null) {
    throw usage(
      `--time-limit ${JSON.stringify(text)} is not a duration: a number and a unit, h, m, s or ms.`,
      'Examples: 30m, 1h30m, 90s, 500ms.',
    )
  }
  if (ms === 0) {
    throw usage(
      `--time-limit ${JSON.stringify(text)}: the limit must be more than zero.`,
      'Omit --time-limit to check every file, or give a limit such as 30m.',
    )
  }
  return ms
}

function usage(message: string, suggestion: string): AedbError {
  return new AedbError(message, {code: 'USAGE', exit: EXIT.USAGE, suggestions: [suggestion]})
}
