/**
 * The candidate nearest to a mistyped name, or undefined when none is near enough to be what was meant (at most a
 * third of the letters changed, at least 1 and never more than 3). Ties go to the earlier candidate.
 */
export function closestName(typed: string, candidates: readonly string[]): string | undefined {
  let best: {name: string; distance: number} | undefined
  for (const name of candidates) {
    const d = typoDistance(typed.toLowerCase(), name.toLowerCase())
    if (!best || d < best.distance) best = {name, distance: d}
  }
  if (!best) return undefined
  const allowed = Math.min(3, Math.max(1, Math.floor(Math.max(typed.length, best.name.length) / 3)))
  return best.distance <= allowed ? best.name : undefined
}

/**
 * Edits from `a` to `b`: letters inserted, deleted, replaced, and two neighbours swapped, each counting 1 (optimal
 * string alignment). Plain Levenshtein counts the swap, the commonest typo (`--jbos`), as 2.
 */
export function typoDistance(a: string, b: string): number {
  const rows = Array.from({length: a.length + 1}, (_, i) =>
    Array.from({length: b.length + 1}, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = d
    }
  }
  return rows[a.length]![b.length]!
}
