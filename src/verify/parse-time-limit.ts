const UNIT_MS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}

/** `30m`, `1h30m`, `90s`, `500ms` in milliseconds (`0s` is 0); null when the text is not a duration. */
export function parseTimeLimit(text: string): number | null {
  const trimmed = text.trim()
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(trimmed)) return null
  let total = 0
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!
  }
  return total
}
