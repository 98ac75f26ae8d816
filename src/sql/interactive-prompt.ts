import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {createInterface} from 'node:readline'
import type {Kysely} from 'kysely'
import type {RawSession} from '../db/connection.js'
import type {Database} from '../db/schema.js'
import {isAedbError} from '../errors.js'
import {makeFolder} from '../make-folder.js'
import {createResultWriter, streamWriter} from './result-writer.js'
import {runSql} from './run-sql.js'
import {splitStatements} from './split-statements.js'

export interface InteractivePromptProps {
  db: Kysely<Database>
  withSession: <T>(fn: (session: RawSession) => Promise<T>) => Promise<T>
  write: boolean
  argv: readonly string[]
  version: string
  location: string
  /** Lines entered in earlier sessions, kept for the arrow keys; null keeps no history. */
  historyFile: string | null
  input: NodeJS.ReadableStream
  output: NodeJS.WritableStream
}

const HISTORY_SIZE = 500

const HELP = `Statements end with ; and may span lines.
  \\dt         list tables and views
  \\d NAME     describe a table or view
  \\q          quit (or Ctrl-D)`

const LIST_RELATIONS = `select table_name as name, case table_type when 'VIEW' then 'view' else 'table' end as type
from information_schema.tables where table_schema = current_schema() order by type desc, name`

function describeRelation(name: string): string {
  return `select column_name as column, data_type as type, is_nullable as nullable
from information_schema.columns where table_schema = current_schema() and table_name = '${name.replaceAll("'", "''")}'
order by ordinal_position`
}

/**
 * A psql-like prompt on the configured database: each statement (ended by `;`) runs in its own transaction and prints
 * as a table; an error is printed and the prompt goes on. History lives in `historyFile`.
 */
export async function runInteractivePrompt(props: InteractivePromptProps): Promise<void> {
  const history = await readHistory(props.historyFile)
  const rl = createInterface({
    input: props.input,
    output: props.output,
    terminal: true,
    history,
    historySize: HISTORY_SIZE,
  })
  const print = streamWriter(props.output)
  await print(
    `aedb sql on ${props.location}${props.write ? ' (changes allowed)' : ' (read-only)'}. \\? for help.\n`,
  )
  let buffer = ''
  const run = async (sql: string) => {
    const writer = createResultWriter('table', print)
    try {
      await runSql({...props, sql, sink: writer})
    } catch (error) {
      if (!isAedbError(error)) throw error
      await print(`ERROR: ${error.message}\n${error.suggestions.map((s) => `HINT: ${s}\n`).join('')}`)
    }
  }
  rl.setPrompt('aedb=> ')
  rl.prompt()
  for await (const line of rl) {
    const command = buffer === '' ? line.trim() : ''
    if (command === '\\q') break
    if (command === '\\?') await print(`${HELP}\n`)
    else if (command === '\\dt') await run(LIST_RELATIONS)
    else if (command.startsWith('\\d ')) await run(describeRelation(command.slice(3).trim()))
    else if (command.startsWith('\\')) await print(`Unknown command ${command}; \\? lists them.\n`)
    else {
      buffer += `${line}\n`
      const split = splitStatements(buffer)
      if (split.rest === null && !split.open) {
        if (split.statements.length > 0) await run(buffer)
        buffer = ''
      }
    }
    rl.setPrompt(buffer.trim() === '' ? 'aedb=> ' : 'aedb-> ')
    if (buffer.trim() === '') buffer = ''
    rl.prompt()
  }
  const lines = (rl as unknown as {history: string[]}).history
  rl.close()
  await writeHistory(props.historyFile, lines)
}

async function readHistory(file: string | null): Promise<string[]> {
  if (!file) return []
  const text = await readFile(file, 'utf8').catch(() => '')
  // readline keeps the newest line first.
  return text
    .split('\n')
    .filter((l) => l !== '')
    .reverse()
    .slice(0, HISTORY_SIZE)
}

async function writeHistory(file: string | null, lines: string[]): Promise<void> {
  if (!file) return
  await makeFolder(path.dirname(file))
  await writeFile(file, `${[...lines].reverse().join('\n')}\n`)
}
