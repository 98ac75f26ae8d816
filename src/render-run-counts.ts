/** A run's counts in a few words for a table cell: files of an import, else the counts as compact JSON. */
export function renderRunCounts(counts: Record<string, unknown>): string {
  const files = counts.files as Record<string, number> | undefined
  if (files && typeof files === 'object' && typeof files.seen === 'number') {
    const parts = [
      `${files.seen} seen`,
      `${files.imported ?? 0} imported`,
      `${files.unchanged ?? 0} unchanged`,
      `${files.rejected ?? 0} rejected`,
    ]
    if (typeof counts.warnings === 'number' && counts.warnings > 0) parts.push(`${counts.warnings} warnings`)
    return parts.join(', ')
  }
  const text = JSON.stringify(counts)
  return text.length > 60 ? `${text.slice(0, 59)}…` : text
}
