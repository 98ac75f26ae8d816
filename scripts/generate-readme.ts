/**
 * Writes the README's command reference from the oclif commands themselves (summary, usage, arguments, flags,
 * examples), between `<!-- commands -->` and `<!-- commandsstop -->`. With --check it writes nothing and exits 1
 * with a diff when the README is stale; test/docs.test.ts runs the same check.
 *
 *   npm run readme          # rewrite README.md
 *   npm run readme:check    # fail when README.md differs from the code
 */
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {type Command, Config} from '@oclif/core'
import {markdownTable} from './markdown-table.js'

export const COMMANDS_START = '<!-- commands -->'
export const COMMANDS_STOP = '<!-- commandsstop -->'

const BIN = 'aedb'
const DEFAULT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/**
 * The commands as oclif sees them, read from src/commands (like bin/dev.js) so a stale dist/ is never documented.
 * oclif imports the command files itself, so tsx's loader is registered for the time it takes.
 */
export async function loadCommands(root = DEFAULT_ROOT): Promise<Command.Loadable[]> {
  return (await loadCommandSets(root)).own
}

/** aedb's own commands, and those its oclif plugins add (completion, version; help lists itself). */
export async function loadCommandSets(
  root = DEFAULT_ROOT,
): Promise<{own: Command.Loadable[]; plugins: Command.Loadable[]}> {
  const pjson = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'))
  pjson.oclif.commands = './src/commands'
  const {register} = await import('tsx/esm/api')
  const unregister = register()
  try {
    const config = await Config.load({root, pjson})
    const visible = config.commands.filter((c) => !c.hidden).sort((a, b) => a.id.localeCompare(b.id))
    return {
      own: visible.filter((c) => c.pluginName === pjson.name),
      plugins: visible.filter((c) => c.pluginName !== pjson.name && c.id !== 'help'),
    }
  } finally {
    await unregister()
  }
}

/** `<%= config.bin %>` and `<%= command.id %>`, the only templates aedb's help texts use. */
export function renderTemplate(text: string, id: string): string {
  const rendered = text.replaceAll(/<%=\s*config\.bin\s*%>/g, BIN).replaceAll(/<%=\s*command\.id\s*%>/g, id)
  if (rendered.includes('<%'))
    throw new Error(`Command ${id} uses a help template the README generator does not know: ${text}`)
  return rendered
}

/** Markdown for prose: `<value>` would vanish as an HTML tag, `|` would split a table cell. Code spans stay as they are. */
function prose(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, index) =>
      index % 2 === 1 ? part : part.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;'),
    )
    .join('')
}

function cell(text: string): string {
  return prose(text)
    .replaceAll('|', '\\|')
    .replaceAll(/\s*\n\s*/g, ' ')
}

type CachedFlag = Command.Flag.Cached
type CachedArg = Command.Arg.Cached

function flagName(flag: CachedFlag): string {
  const long = flag.type === 'option' ? `--${flag.name}=<value>` : `--${flag.name}`
  return flag.char ? `-${flag.char}, ${long}` : long
}

function flagDescription(flag: CachedFlag, all: Record<string, CachedFlag>): string {
  const parts = [flag.summary ?? flag.description ?? '']
  if (flag.summary && flag.description) parts.push(flag.description)
  if (flag.type === 'option' && flag.options?.length)
    parts.push(`One of ${flag.options.map((o) => `\`${o}\``).join(', ')}.`)
  if (flag.type === 'option' && flag.default !== undefined && typeof flag.default !== 'function') {
    parts.push(`Default: \`${String(flag.default)}\`.`)
  }
  if (flag.required) parts.push('Required.')
  if (flag.type === 'option' && flag.multiple) parts.push('May be given more than once.')
  if (flag.type === 'boolean' && flag.allowNo) parts.push(`Turn off with \`--no-${flag.name}\`.`)
  const exclusive = (flag.exclusive ?? []).filter((name) => all[name])
  if (exclusive.length) parts.push(`Not together with ${exclusive.map((n) => `\`--${n}\``).join(', ')}.`)
  if (flag.dependsOn?.length) parts.push(`Needs ${flag.dependsOn.map((n) => `\`--${n}\``).join(', ')}.`)
  if (flag.env) parts.push(`Also from \`${flag.env}\`.`)
  return parts.filter((p) => p !== '').join(' ')
}

function argDescription(arg: CachedArg): string {
  const parts = [arg.description ?? '']
  if (arg.options?.length) parts.push(`One of ${arg.options.map((o) => `\`${o}\``).join(', ')}.`)
  if (arg.default !== undefined && typeof arg.default !== 'function')
    parts.push(`Default: \`${String(arg.default)}\`.`)
  return parts.filter((p) => p !== '').join(' ')
}

/** A command's id as it is typed (oclif's topic separator is a space: `runs show`, not `runs:show`). */
function typedId(command: Command.Loadable): string {
  return command.id.replaceAll(':', ' ')
}

function usage(command: Command.Loadable): string {
  const args = Object.values(command.args ?? {})
  const words = [BIN, typedId(command)]
  args.forEach((arg, index) => {
    const last = index === args.length - 1
    const name = `${arg.name.toUpperCase()}${last && command.strict === false ? '...' : ''}`
    words.push(arg.required ? name : `[${name}]`)
  })
  words.push('[FLAGS]')
  return words.join(' ')
}

function isGlobal(flag: CachedFlag): boolean {
  return flag.helpGroup === 'GLOBAL'
}

function flagTable(flags: CachedFlag[], all: Record<string, CachedFlag>): string[] {
  const rows = flags.map((f) => [`\`${flagName(f)}\``, cell(flagDescription(f, all))])
  return markdownTable(['Flag', 'Description'], rows)
}

function renderCommand(command: Command.Loadable): string[] {
  const id = typedId(command)
  const lines = [`### \`${BIN} ${id}\``, '']
  if (command.summary) lines.push(prose(renderTemplate(command.summary, id)), '')
  lines.push('```', usage(command), '```', '')
  if (command.description) {
    for (const paragraph of renderTemplate(command.description, id).split(/\n\s*\n/)) {
      lines.push(prose(paragraph.trim()), '')
    }
  }
  const args = Object.values(command.args ?? {})
  if (args.length) {
    const rows = args.map((arg) => [`\`${arg.name.toUpperCase()}\``, cell(argDescription(arg))])
    lines.push(...markdownTable(['Argument', 'Description'], rows), '')
  }
  const flags = Object.values(command.flags ?? {}).filter((f) => !f.hidden && !isGlobal(f))
  if (flags.length) lines.push(...flagTable(flags, command.flags), '')
  lines.push(`Also the [global flags](#global-flags).`, '')
  const examples = (command.examples ?? []).map((e) =>
    typeof e === 'string' ? {description: '', command: e} : e,
  )
  if (examples.length) {
    lines.push('Examples:', '')
    for (const example of examples) {
      if (example.description) lines.push(prose(renderTemplate(example.description, id)), '')
      lines.push('```sh', renderTemplate(example.command, id), '```', '')
    }
  }
  return lines
}

/** What a plugin command that has no summary of its own does. */
const PLUGIN_SUMMARIES: Record<string, string> = {
  version: 'Show the version of aedb, the platform and Node (also `aedb --version` and `aedb -v`).',
}

/** Plugin commands in one table: their own help says the rest (`aedb autocomplete --help`). */
function renderPluginCommands(commands: readonly Command.Loadable[]): string[] {
  if (commands.length === 0) return []
  const rows = commands.map((command) => [
    `\`${usage(command).replace(' [FLAGS]', '')}\``,
    cell(command.summary ?? PLUGIN_SUMMARIES[command.id] ?? command.description?.split('\n')[0] ?? ''),
  ])
  return [
    '### From oclif plugins',
    '',
    'Shell completion and the version; `aedb <command> --help` (or `-h`) shows the flags of each.',
    '',
    ...markdownTable(['Command', 'What it does'], rows),
    '',
  ]
}

/**
 * The Markdown that goes between the markers: a list of commands, the global flags, then each command, then the
 * commands oclif's plugins add.
 */
export function renderCommandReference(
  commands: readonly Command.Loadable[],
  plugins: readonly Command.Loadable[] = [],
): string {
  const rows = commands.map((command) => {
    const id = typedId(command)
    const anchor = `${BIN}-${id}`.replaceAll(' ', '-').replaceAll(/[^a-z0-9-]/g, '')
    return [`[\`${BIN} ${id}\`](#${anchor})`, cell(renderTemplate(command.summary ?? '', id))]
  })
  const lines = [...markdownTable(['Command', 'What it does'], rows), '']
  const first = commands[0]
  if (first) {
    const globals = Object.values(first.flags ?? {}).filter(isGlobal)
    lines.push(
      '### Global flags',
      '',
      'Every command takes these.',
      '',
      ...flagTable(globals, first.flags),
      '',
    )
  }
  for (const command of commands) lines.push(...renderCommand(command))
  lines.push(...renderPluginCommands(plugins))
  return lines.join('\n').trimEnd()
}

/** `text` with the part between the markers replaced by `reference`. */
export function replaceCommandReference(text: string, reference: string): string {
  const start = text.indexOf(COMMANDS_START)
  const stop = text.indexOf(COMMANDS_STOP)
  if (start === -1 || stop === -1 || stop < start) {
    throw new Error(`README.md needs the markers ${COMMANDS_START} and ${COMMANDS_STOP}, in that order.`)
  }
  return `${text.slice(0, start + COMMANDS_START.length)}\n${reference}\n${text.slice(stop)}`
}

/** A line diff (longest common subsequence) of two texts, as `-`/`+` lines with two lines of context. */
export function diffLines(before: string, after: string): string {
  const a = before.split('\n')
  const b = after.split('\n')
  const lcs: number[][] = Array.from({length: a.length + 1}, () => new Array<number>(b.length + 1).fill(0))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
    }
  }
  const ops: {kind: ' ' | '-' | '+'; line: string; at: number}[] = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({kind: ' ', line: a[i]!, at: i + 1})
      i++
      j++
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      ops.push({kind: '-', line: a[i]!, at: i + 1})
      i++
    } else {
      ops.push({kind: '+', line: b[j]!, at: i + 1})
      j++
    }
  }
  const shown = new Set<number>()
  ops.forEach((op, index) => {
    if (op.kind === ' ') return
    for (let k = Math.max(0, index - 2); k <= Math.min(ops.length - 1, index + 2); k++) shown.add(k)
  })
  const out: string[] = []
  let previous = -2
  for (const index of [...shown].sort((x, y) => x - y)) {
    if (index !== previous + 1) out.push(`@@ README.md line ${ops[index]!.at} @@`)
    out.push(`${ops[index]!.kind}${ops[index]!.line}`)
    previous = index
  }
  return out.join('\n')
}

export interface UpdateReadmeOptions {
  root?: string
  /** Only compare; write nothing. */
  check?: boolean
}

export interface UpdateReadmeResult {
  readmePath: string
  /** README.md as it should be. */
  expected: string
  /** True when README.md differed from `expected` (and, unless checking, was rewritten). */
  stale: boolean
  /** `-` lines as they are, `+` lines as they should be; empty when up to date. */
  diff: string
}

export async function updateReadme(options: UpdateReadmeOptions = {}): Promise<UpdateReadmeResult> {
  const root = options.root ?? DEFAULT_ROOT
  const readmePath = path.join(root, 'README.md')
  const current = await readFile(readmePath, 'utf8')
  const {own, plugins} = await loadCommandSets(root)
  const expected = replaceCommandReference(current, renderCommandReference(own, plugins))
  const stale = current !== expected
  if (stale && !options.check) await writeFile(readmePath, expected)
  return {readmePath, expected, stale, diff: stale ? diffLines(current, expected) : ''}
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const check = process.argv.includes('--check')
  const result = await updateReadme({check})
  if (check && result.stale) {
    process.stderr.write(
      `README.md's command reference is out of date with the commands; run \`npm run readme\`.\n${result.diff}\n`,
    )
    process.exitCode = 1
  } else if (result.stale) {
    process.stdout.write(`Updated the command reference in ${result.readmePath}.\n`)
  }
}
