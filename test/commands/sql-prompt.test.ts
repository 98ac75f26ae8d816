import {spawn} from 'node:child_process'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'
import {PROJECT_ROOT} from '../support/run-cli.js'

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

interface PtyResult {
  output: string
  exit?: number
  error?: string
}

/** Runs `aedb sql` on a pseudo-terminal (test/support/drive-pty.py), typing each `send` once `expect` is printed. */
function drivePrompt(
  args: string[],
  env: Record<string, string>,
  steps: Array<{expect: string; send?: string}>,
): Promise<PtyResult> {
  const spec = {
    argv: [process.execPath, '--import', TSX, path.join(PROJECT_ROOT, 'bin', 'dev.js'), 'sql', ...args],
    env,
    steps,
    timeout: 150,
  }
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [path.join(PROJECT_ROOT, 'test', 'support', 'drive-pty.py')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    let stdout = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.on('error', reject)
    child.on('close', () => resolve(JSON.parse(stdout) as PtyResult))
    child.stdin.end(JSON.stringify(spec))
  })
}

describe.each(testBackends())('the aedb sql prompt on %s', (backend) => {
  let database: TestDatabase
  let dataHome: string

  beforeAll(async () => {
    database = await createTestDatabase(backend)
    dataHome = await mkdtemp(path.join(tmpdir(), 'aedb-prompt-'))
  })

  afterAll(async () => {
    await database?.drop()
    if (dataHome) await rm(dataHome, {recursive: true, force: true})
  })

  it('runs a statement over two lines, lists relations, shows an error and goes on, quits, keeps history', async () => {
    const result = await drivePrompt(
      ['--database-url', database.url],
      {XDG_DATA_HOME: dataHome, NODE_OPTIONS: ''},
      [
        {expect: 'aedb=> ', send: 'select 40 + 2 as answer,\r'},
        {expect: 'aedb-> ', send: "  'forty-two' as spelled;\r"},
        {expect: '(1 row)'},
        {expect: 'aedb=> ', send: '\\dt\r'},
        {expect: 'rows)'},
        {expect: 'aedb=> ', send: 'select nope from syncs;\r'},
        {expect: 'does not exist'},
        {expect: 'aedb=> ', send: '\\d syncs\r'},
        {expect: 'rows)'},
        {expect: 'aedb=> ', send: '\\q\r'},
      ],
    )
    expect(result.error, result.output).toBeUndefined()
    expect(result.exit).toBe(0)
    const output = result.output.replaceAll('\r', '')
    expect(output).toMatch(/answer \| spelled\s*\n-+\+-+\n\s*42 \| forty-two/)
    expect(output).toMatch(/syncs\s+\| view/)
    expect(output).toMatch(/runs\s+\| table/)
    expect(output).toContain('ERROR: column "nope" does not exist (SQLSTATE 42703)')
    expect(output).toMatch(/clean_cycles\s+\| integer/)
    const history = await readFile(path.join(dataHome, 'aedb', 'sql_history'), 'utf8')
    expect(history).toContain('select nope from syncs;')
  })
})
