import {readFileSync} from 'node:fs'
import path from 'node:path'
import {parseEnv} from 'node:util'

/**
 * The environment aedb resolves its settings from: `.env`, then `.env.local` over it, then the real environment
 * over both (a variable set in the shell always wins). Nothing is written to `process.env`.
 */
export function loadEnvironment(
  cwd = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = {}
  for (const name of ['.env', '.env.local']) {
    let text: string
    try {
      text = readFileSync(path.join(cwd, name), 'utf8')
    } catch {
      continue
    }
    Object.assign(merged, parseEnv(text))
  }
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined) merged[key] = value
  }
  return merged
}
