/** The checks `aedb verify` runs; `--check` selects among them. */
export const VERIFY_CHECKS = ['files', 'sources', 'rows', 'cross', 'schema'] as const
export type VerifyCheck = (typeof VERIFY_CHECKS)[number]

export type Severity = 'error' | 'warning'

/** One problem a check found, before its history is known. */
export interface CheckFinding {
  check: VerifyCheck
  code: string
  severity: Severity
  table: string | null
  /** The row, file or migration the finding is about (ids as text). */
  id: string | null
  path: string | null
  /** What is wrong and what to do about it. */
  message: string
}

/**
 * A finding as reported: `new` when no earlier verify run had it open. `checkedThisRun` is false for a finding still
 * open from an earlier run on an object this run did not look at (a file past a --time-limit): it is reported as
 * it was `lastSeen` (an ISO time) until a run checks that object again.
 */
export interface Finding extends CheckFinding {
  new: boolean
  checkedThisRun: boolean
  lastSeen: string
}

/** What makes a run fail (exit 3): `new` a new error, `error` any error, `warning` any finding. */
export type FailOn = 'new' | 'error' | 'warning'

/** Whether this finding makes a run with this --fail-on fail. */
export function reachesFailOn(f: Finding, failOn: FailOn): boolean {
  if (failOn === 'warning') return true
  if (failOn === 'new') return f.new && f.severity === 'error'
  return f.severity === 'error'
}

/**
 * The identity of a finding across runs: the same problem on the same object is the same finding. The path counts
 * only for findings without an id, so a file found through --root-map keeps its history.
 */
export function findingKey(f: Pick<CheckFinding, 'check' | 'code' | 'table' | 'id' | 'path'>): string {
  return [f.check, f.code, f.table ?? '', f.id ?? '', f.id === null ? (f.path ?? '') : ''].join('|')
}

/** A path as a shell word for the commands findings name: bare when it is plain, else single-quoted. */
export function shellQuote(p: string): string {
  return /^[\w./#-]+$/.test(p) ? p : `'${p.replaceAll("'", "'\\''")}'`
}
