/** Text output of the benchmarks. */
import type {BenchResult} from './bench-result.js'
import {run} from './processes.js'

export function fmt(value: number, digits = 2): string {
  return value.toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits})
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`
  return [
    line(header),
    `|${widths.map((w, i) => (i < 2 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`,
    ...rows.map(line),
  ].join('\n')
}

export async function gitState(): Promise<{commit: string; dirty: boolean}> {
  const commit = await run('git', ['rev-parse', 'HEAD'])
  const status = await run('git', ['status', '--porcelain', '--', 'src', 'migrations'])
  return {commit: commit.stdout.trim(), dirty: status.stdout.trim() !== ''}
}

/** The `npm run bench` lines as a Markdown table. */
export function renderResults(results: readonly BenchResult[]): string {
  const rows = results.map((r) => [
    r.name,
    r.backend,
    r.seconds === null ? `skipped: ${r.skipped}` : fmt(r.seconds),
    r.rows === null ? '-' : String(r.rows),
    r.bytes === null ? '-' : fmt(r.bytes / 1048576, 1),
    r.peakRssMb === null ? '-' : fmt(r.peakRssMb, 0),
    r.ratio ? `${fmt(r.ratio.value, 1)}x ${r.ratio.to}` : '-',
  ])
  return table(['what', 'backend', 'seconds', 'rows', 'MiB', 'peak RSS MB', 'ratio'], rows)
}
