/** One line of `npm run bench -- --json`: a measurement of aedb or of its reference tool. */
export interface BenchResult {
  name: string
  /** The database the line ran against; `none` for reference tools that use none. */
  backend: 'postgres' | 'pglite' | 'none'
  /** Wall seconds, or null when the line was skipped. */
  seconds: number | null
  rows: number | null
  bytes: number | null
  peakRssMb: number | null
  /** seconds / the seconds of the named reference line measured in the same run. */
  ratio: {to: string; value: number} | null
  /** Why this line was not measured (a tool that is not installed). */
  skipped?: string
}

export function ratioTo(seconds: number | null, reference: BenchResult | undefined): BenchResult['ratio'] {
  if (seconds === null || !reference || reference.seconds === null || reference.seconds <= 0) return null
  return {to: reference.name, value: seconds / reference.seconds}
}

export function skippedLine(name: string, reason: string): BenchResult {
  return {
    name,
    backend: 'none',
    seconds: null,
    rows: null,
    bytes: null,
    peakRssMb: null,
    ratio: null,
    skipped: reason,
  }
}
