import type {Kysely} from 'kysely'
import type {Database, Row} from '../db/schema.js'
import {upsertRows} from '../db/upsert-rows.js'
import {type CheckFinding, type Finding, findingKey, type VerifyCheck} from './finding.js'

export interface RecordFindingsProps {
  db: Kysely<Database>
  runId: string
  findings: readonly CheckFinding[]
  /** The checks this run selected: their open findings are reported, whether this run re-checked them or not. */
  checks: ReadonlySet<VerifyCheck>
  /** Checks that ran over everything they cover (a finding of theirs not seen again is resolved). */
  fullChecks: ReadonlySet<VerifyCheck>

  /**
   * The files this run checked, for the checks that ran over them: every file id after `after` up to `lastId`, or
   * to the end when `toEnd` (the run finished the pass: files are checked in id order); their files/sources
   * findings not seen again are resolved.
   */
  checkedFiles: {
    checks: ReadonlySet<VerifyCheck>
    after: string | null
    lastId: string | null
    toEnd: boolean
  } | null
}

export interface RecordedFindings {
  /** What this run found, then the findings still open from earlier runs on objects it did not check. */
  findings: Finding[]
  resolved: Finding[]
}

/**
 * Remembers findings across runs: a finding seen before and still open is not new; one open before and not seen
 * by a run that covered its object is resolved; one seen again after it was resolved is new again. A finding open
 * before on an object this run did not cover (a file past its --time-limit) stays open and is reported again as
 * last seen: nothing says it was fixed, so it still counts towards --fail-on.
 */
export async function recordFindings(props: RecordFindingsProps): Promise<RecordedFindings> {
  const known = new Map(
    (await props.db.selectFrom('verify_findings').selectAll().execute()).map((r) => [r.key, r]),
  )
  const now = new Date()
  const seen = new Set<string>()
  const findings: Finding[] = []
  const writes: Array<Record<string, unknown>> = []
  for (const f of props.findings) {
    const key = findingKey(f)
    if (seen.has(key)) continue
    seen.add(key)
    const before = known.get(key)
    const isNew = !before || before.resolved_at !== null
    findings.push(reported(f, {isNew, checkedThisRun: true, lastSeen: now}))
    writes.push(
      row(key, f, {
        first_seen_run: isNew ? props.runId : before.first_seen_run,
        first_seen_at: isNew ? now : before.first_seen_at,
        last_seen_run: props.runId,
        last_seen_at: now,
        resolved_run: null,
        resolved_at: null,
      }),
    )
  }
  const resolved: Finding[] = []
  for (const before of known.values()) {
    if (before.resolved_at !== null || seen.has(before.key)) continue
    const f = fromRow(before)
    const lastSeen = before.last_seen_at
    if (!covered(before, props)) {
      if (props.checks.has(f.check))
        findings.push(reported(f, {isNew: false, checkedThisRun: false, lastSeen}))
      continue
    }
    resolved.push(reported(f, {isNew: false, checkedThisRun: true, lastSeen}))
    writes.push(
      row(before.key, f, {
        first_seen_run: before.first_seen_run,
        first_seen_at: before.first_seen_at,
        last_seen_run: before.last_seen_run,
        last_seen_at: before.last_seen_at,
        resolved_run: props.runId,
        resolved_at: now,
      }),
    )
  }
  await upsertRows({db: props.db, table: 'verify_findings', rows: writes, conflict: ['key']})
  return {findings, resolved}
}

/** The report's field order: what, how bad, whether new, where, then whether this run looked and when it saw it. */
function reported(
  f: CheckFinding,
  history: {isNew: boolean; checkedThisRun: boolean; lastSeen: Date | string},
): Finding {
  return {
    check: f.check,
    code: f.code,
    severity: f.severity,
    new: history.isNew,
    table: f.table,
    id: f.id,
    path: f.path,
    message: f.message,
    checkedThisRun: history.checkedThisRun,
    lastSeen: new Date(history.lastSeen).toISOString(),
  }
}

function covered(before: Row<'verify_findings'>, props: RecordFindingsProps): boolean {
  const check = before.check_name as VerifyCheck
  if (check === 'files' || check === 'sources') {
    return props.fullChecks.has(check) || checkedFile(before.row_id, check, props.checkedFiles)
  }
  return props.fullChecks.has(check)
}

/** Whether the run checked this file for this check: uuids compare as their lowercase text does in PostgreSQL. */
function checkedFile(
  id: string | null,
  check: VerifyCheck,
  checked: RecordFindingsProps['checkedFiles'],
): boolean {
  if (id === null || checked === null || !checked.checks.has(check)) return false
  const key = id.toLowerCase()
  if (checked.after !== null && key <= checked.after.toLowerCase()) return false
  return checked.toEnd || (checked.lastId !== null && key <= checked.lastId.toLowerCase())
}

function fromRow(r: Row<'verify_findings'>): CheckFinding {
  return {
    check: r.check_name as VerifyCheck,
    code: r.code,
    severity: r.severity as CheckFinding['severity'],
    table: r.table_name,
    id: r.row_id,
    path: r.path,
    message: r.message,
  }
}

function row(key: string, f: CheckFinding, history: Record<string, unknown>): Record<string, unknown> {
  return {
    key,
    check_name: f.check,
    code: f.code,
    severity: f.severity,
    table_name: f.table,
    row_id: f.id,
    path: f.path,
    message: f.message,
    ...history,
  }
}
