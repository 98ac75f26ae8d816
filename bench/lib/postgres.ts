/** The PostgreSQL server the benchmarks use through psql, and the scratch databases and folders they make. */
import {readFile, rm} from 'node:fs/promises'
import path from 'node:path'
import {log, mustRun, processCpu, type Ran} from './processes.js'

/** What the helpers need to know of a benchmark's options. */
export interface ServerOptions {
  serverUrl: string
}

export function serverDb(opts: ServerOptions, name: string): string {
  return `${opts.serverUrl}/${name}`
}

export async function psql(opts: ServerOptions, database: string, args: readonly string[]): Promise<Ran> {
  return mustRun('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', serverDb(opts, database), ...args])
}

export async function psqlValue(opts: ServerOptions, database: string, query: string): Promise<string> {
  return (await psql(opts, database, ['-At', '-c', query])).stdout.trim()
}

export async function dropDatabase(opts: ServerOptions, name: string): Promise<void> {
  await psql(opts, 'postgres', ['-c', `drop database if exists ${name} with (force)`])
}

/** Databases and folders this run creates; all removed at the end (also after a failure) unless --keep. */
export const scratch = {databases: new Set<string>(), paths: new Set<string>()}

/** Drops `name` if it exists (left over from an earlier run) and registers it for removal at the end. */
export async function scratchDatabase(opts: ServerOptions, name: string): Promise<string> {
  scratch.databases.add(name)
  await dropDatabase(opts, name)
  return name
}

export async function scratchPath(target: string): Promise<string> {
  scratch.paths.add(target)
  scratch.paths.add(`${target}.lock`)
  await rm(target, {recursive: true, force: true})
  await rm(`${target}.lock`, {force: true})
  return target
}

export async function removeScratch(opts: ServerOptions): Promise<void> {
  for (const name of scratch.databases) {
    await dropDatabase(opts, name).catch((error) => log(`could not drop ${name}: ${error}`))
  }
  for (const target of scratch.paths) await rm(target, {recursive: true, force: true})
}

/** The PostgreSQL postmaster's pid (so its children's CPU time can be read), or null when it is not local. */
export async function postmasterPid(opts: ServerOptions): Promise<number | null> {
  try {
    const dataDir = await psqlValue(opts, 'postgres', 'show data_directory')
    const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0])
    await processCpu(pid, true)
    return pid
  } catch {
    return null
  }
}
