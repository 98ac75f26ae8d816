import type {Hook} from '@oclif/core'
import {closestName} from '../closest-name.js'
import {EXIT} from '../errors.js'

/**
 * `aedb backfil-excel …`: one line naming the command typed and the nearest real one, exit 2 (a usage error), the
 * same on a terminal and in cron. oclif's plugin-not-found suggests only on a terminal (it asks there, and runs the
 * command on yes); a script gets no suggestion from it at all.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const {config} = options
  const ids = config.commands.filter((c) => !c.hidden).map((c) => c.id)
  const words = options.id.split(':')
  // With a space as topic separator oclif glues the arguments onto the id: compare as many words as a command has,
  // the longest commands first (`runs shw` is nearer `runs show` than `runs`).
  const depths = [...new Set(ids.map((id) => id.split(':').length))].sort((a, b) => b - a)
  let guess: string | undefined
  let typed = words[0]!
  const show = (id: string) => `${config.bin} ${id.replaceAll(':', ' ')}`
  for (const depth of depths) {
    typed = words.slice(0, depth).join(':')
    if (depth < words.length && ids.includes(typed)) {
      // `aedb init extra`: a real command with words it takes no argument for.
      const extra = words.slice(depth).join(' ')
      this.error(
        `unexpected argument: ${extra} (\`${show(typed)}\` takes no arguments here; see \`${show(typed)} --help\`)`,
        {exit: EXIT.USAGE, code: 'UNEXPECTED_ARGUMENT'},
      )
    }
    guess = closestName(
      typed,
      ids.filter((id) => id.split(':').length === depth),
    )
    if (guess) break
  }
  if (!guess) typed = words[0]!
  const message = guess
    ? `\`${show(typed)}\` is not an ${config.bin} command; did you mean \`${show(guess)}\`?`
    : `\`${show(typed)}\` is not an ${config.bin} command; \`${config.bin} help\` lists the commands.`
  this.error(message, {exit: EXIT.USAGE, code: 'UNKNOWN_COMMAND'})
}

export default hook
