import type {Command} from '@oclif/core'
import {beforeAll, describe, expect, it} from 'vitest'
import {
  COMMANDS_START,
  COMMANDS_STOP,
  diffLines,
  loadCommands,
  replaceCommandReference,
  updateReadme,
} from '../scripts/generate-readme.js'

describe('documentation', () => {
  let commands: Command.Loadable[]

  beforeAll(async () => {
    commands = await loadCommands()
  })

  it('finds the commands aedb ships', () => {
    expect(commands.map((c) => c.id)).toEqual(expect.arrayContaining(['init', 'migrate']))
  })

  it("README.md's command reference is what `npm run readme` generates", async () => {
    const result = await updateReadme({check: true})
    expect(result.stale, `README.md is out of date; run \`npm run readme\`:\n${result.diff}`).toBe(false)
  })

  // sqlite-utils' test_commands_are_documented: a command without a summary or an explained example is unfinished.
  it('every command has a summary, a description and examples, each example with a description', () => {
    for (const command of commands) {
      expect(command.summary?.trim(), `${command.id} has no summary`).toBeTruthy()
      expect(command.description?.trim(), `${command.id} has no description`).toBeTruthy()
      expect(command.examples?.length, `${command.id} has no examples`).toBeGreaterThan(0)
      for (const example of command.examples ?? []) {
        expect(typeof example, `${command.id}: example ${JSON.stringify(example)} has no description`).toBe(
          'object',
        )
        if (typeof example === 'string') continue
        expect(
          example.description.trim(),
          `${command.id}: example ${example.command} has no description`,
        ).not.toBe('')
        expect(example.command).toMatch(/^<%= config\.bin %> <%= command\.id %>/)
      }
    }
  })

  it('every flag and argument says what it is for', () => {
    for (const command of commands) {
      for (const flag of Object.values(command.flags)) {
        expect(flag.summary ?? flag.description, `${command.id} --${flag.name} has no summary`).toBeTruthy()
      }
      for (const arg of Object.values(command.args)) {
        expect(arg.description, `${command.id} argument ${arg.name} has no description`).toBeTruthy()
      }
    }
  })

  it('the check notices a stale reference and shows what differs', () => {
    const readme = `# aedb\n\n${COMMANDS_START}\nold\nsame\n${COMMANDS_STOP}\n`
    const expected = replaceCommandReference(readme, 'new\nsame')
    expect(expected).toBe(`# aedb\n\n${COMMANDS_START}\nnew\nsame\n${COMMANDS_STOP}\n`)
    expect(diffLines(readme, expected)).toBe(
      `@@ README.md line 2 @@\n \n ${COMMANDS_START}\n-old\n+new\n same\n ${COMMANDS_STOP}`,
    )
    expect(diffLines(expected, expected)).toBe('')
    expect(() => replaceCommandReference('# no markers\n', 'x')).toThrow(/markers/)
  })
})
