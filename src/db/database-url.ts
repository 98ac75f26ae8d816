import {homedir} from 'node:os'
import path from 'node:path'
import {AedbError, EXIT} from '../errors.js'

export type DatabaseTarget =
  | {backend: 'postgres'; url: string; redacted: string; source: DatabaseUrlSource}
  | {backend: 'pglite'; dataDir: string; redacted: string; source: DatabaseUrlSource}
  | {backend: 'pglite'; dataDir: null; redacted: 'memory:'; source: DatabaseUrlSource}

export type DatabaseUrlSource =
  | '--database-url'
  | 'AEDB_DATABASE_URL'
  | 'DATABASE_URL'
  | 'AE_DATABASE_URL'
  | 'default'

/** Environment variables consulted in this order after the flag (DESIGN.md "Which one"). */
export const DATABASE_URL_ENV_VARS = ['AEDB_DATABASE_URL', 'DATABASE_URL', 'AE_DATABASE_URL'] as const

export function defaultPgliteDir(env: NodeJS.ProcessEnv = process.env): string {
  const dataHome = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : null
  return path.join(dataHome ?? path.join(homedir(), '.local', 'share'), 'aedb', 'pglite')
}

/** Replaces the password of any URL-looking substring with `***`. Safe to apply to arbitrary text. */
export function redactSecrets(text: string): string {
  // Everything up to the last `@` of the word goes: an unencoded `@` or `/` in a password (`u:p@s/s@host`, also
  // in a URL too broken to parse) must not leave part of it behind. Hiding a little too much is the safe side.
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#\s]*:)(\S*)@/gi, '$1***@')
    .replace(/(password\s*=\s*)('[^']*'|"[^"]*"|\S+)/gi, '$1***')
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass/i.test(key)) parsed.searchParams.set(key, '***')
    }
    return parsed.toString()
  } catch {
    return redactSecrets(url)
  }
}

export interface ResolveDatabaseTargetOptions {
  flag?: string | undefined
  env?: NodeJS.ProcessEnv
  cwd?: string
}

/** Picks the database from the flag, the environment or the embedded default, and normalises its URL. */
export function resolveDatabaseTarget(options: ResolveDatabaseTargetOptions = {}): DatabaseTarget {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  if (options.flag) return parseDatabaseUrl(options.flag, '--database-url', cwd)
  for (const name of DATABASE_URL_ENV_VARS) {
    const value = env[name]
    if (value && value.trim() !== '') return parseDatabaseUrl(value.trim(), name, cwd)
  }
  const dataDir = defaultPgliteDir(env)
  return {backend: 'pglite', dataDir, redacted: `pglite:${dataDir}`, source: 'default'}
}

export function parseDatabaseUrl(
  raw: string,
  source: DatabaseUrlSource,
  cwd = process.cwd(),
): DatabaseTarget {
  if (raw === 'memory:' || raw === 'pglite:memory:' || raw === 'memory://') {
    return {backend: 'pglite', dataDir: null, redacted: 'memory:', source}
  }
  if (raw.startsWith('pglite:')) {
    let dir = raw.slice('pglite:'.length)
    if (dir.startsWith('//')) dir = dir.slice(2)
    if (dir === '') throw usageError(raw, source)
    const dataDir = path.resolve(cwd, dir)
    return {backend: 'pglite', dataDir, redacted: `pglite:${dataDir}`, source}
  }
  const match = /^(postgres|postgresql)(\+[a-z0-9_]+)?:\/\//i.exec(raw)
  if (!match) throw usageError(raw, source)
  // SQLAlchemy URLs from the lab's old .env files carry a driver (`postgresql+psycopg://`): drop it.
  const url = `postgresql://${raw.slice(match[0].length)}`
  try {
    new URL(url)
  } catch {
    throw usageError(raw, source)
  }
  return {backend: 'postgres', url, redacted: redactUrl(url), source}
}

function usageError(raw: string, source: DatabaseUrlSource): AedbError {
  return new AedbError(`${source} is not a database URL aedb understands: ${redactSecrets(raw)}.`, {
    code: 'DATABASE_URL_INVALID',
    exit: EXIT.USAGE,
    suggestions: [
      'Use postgresql://user@host:5432/dbname for a server, pglite:<dir> for an embedded database in a folder, or memory: for a throwaway one.',
    ],
  })
}
