/** What canonicalOptionValues needs to know of a flag or an argument (oclif's definitions fit). */
interface FlagLike {
  type: string
  char?: string | undefined
  aliases?: string[] | undefined
  options?: readonly string[] | undefined
  multiple?: boolean | undefined
}

interface ArgLike {
  options?: readonly string[] | undefined
}

/**
 * The command line with every value of a flag (or argument) that has a fixed list of options written as the list
 * has it: `--study aoa` becomes `--study AOA`, so option values are case-insensitive and stored canonical. oclif
 * checks options before any parse function runs, hence this pass over argv. Values that match no option are left
 * for oclif to refuse.
 */
export function canonicalOptionValues(
  argv: readonly string[],
  flags: Record<string, FlagLike>,
  args: Record<string, ArgLike> = {},
): string[] {
  const byToken = new Map<string, FlagLike>()
  for (const [name, flag] of Object.entries(flags)) {
    byToken.set(`--${name}`, flag)
    for (const alias of flag.aliases ?? []) byToken.set(`--${alias}`, flag)
    if (flag.char) byToken.set(`-${flag.char}`, flag)
  }
  const argOptions = Object.values(args).flatMap((a) => a.options ?? [])
  const out = [...argv]
  for (let i = 0; i < out.length; i++) {
    const token = out[i]!
    if (token === '--') break
    const equals = token.startsWith('--') ? token.indexOf('=') : -1
    if (equals > 0) {
      const flag = byToken.get(token.slice(0, equals))
      if (flag?.type === 'option')
        out[i] = `${token.slice(0, equals + 1)}${canonical(flag.options, token.slice(equals + 1))}`
      continue
    }
    const flag = byToken.get(token)
    if (flag?.type === 'option') {
      // A repeatable flag takes every value up to the next flag.
      while (i + 1 < out.length && !out[i + 1]!.startsWith('-')) {
        out[i + 1] = canonical(flag.options, out[i + 1]!)
        i++
        if (!flag.multiple) break
      }
      continue
    }
    if (!token.startsWith('-')) out[i] = canonical(argOptions, token)
  }
  return out
}

function canonical(options: readonly string[] | undefined, value: string): string {
  if (!options || options.includes(value)) return value
  return options.find((o) => o.toLowerCase() === value.toLowerCase()) ?? value
}
