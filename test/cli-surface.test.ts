import type {Command} from '@oclif/core'
import {expect, it} from 'vitest'
import {loadCommands} from '../scripts/generate-readme.js'

/**
 * The public surface of every command (its arguments and flags) as a committed JSON snapshot, so a renamed flag,
 * a changed default or a dropped option is a visible diff in review (plugin-data's command-snapshot.json).
 * After a deliberate change: `npx vitest run test/cli-surface.test.ts -u`, and say it in CHANGELOG.md.
 */
function describeFlag(flag: Command.Flag.Cached) {
  return {
    name: flag.name,
    type: flag.type,
    char: flag.char ?? null,
    default: typeof flag.default === 'function' ? '(computed)' : (flag.default ?? null),
    options: (flag.type === 'option' ? flag.options : undefined) ?? null,
    multiple: flag.type === 'option' ? Boolean(flag.multiple) : false,
    required: Boolean(flag.required),
    exclusive: flag.exclusive ?? [],
    dependsOn: flag.dependsOn ?? [],
    env: flag.env ?? null,
    allowNo: flag.type === 'boolean' ? Boolean(flag.allowNo) : false,
  }
}

function describeArg(arg: Command.Arg.Cached) {
  return {
    name: arg.name,
    required: Boolean(arg.required),
    default: typeof arg.default === 'function' ? '(computed)' : (arg.default ?? null),
    options: arg.options ?? null,
  }
}

it('the commands, arguments and flags match test/__snapshots__/cli-surface.json', async () => {
  const commands = await loadCommands()
  const surface = Object.fromEntries(
    commands.map((command) => [
      command.id,
      {
        variadic: command.strict === false,
        args: Object.values(command.args).map(describeArg),
        flags: Object.values(command.flags)
          .map(describeFlag)
          .sort((a, b) => a.name.localeCompare(b.name)),
      },
    ]),
  )
  await expect(`${JSON.stringify(surface, null, 2)}\n`).toMatchFileSnapshot('__snapshots__/cli-surface.json')
})
