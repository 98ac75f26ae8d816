import type {Kysely} from 'kysely'
import type {Database, Row} from '../db/schema.js'
import {upsertRows} from '../db/upsert-rows.js'
import {type CheckFinding, type Finding, findingKey, type VerifyCheck} from './finding.js'

export interface RecordFindingsProps {
  db: Kysely<Database>
  runId: string
  findings: readonly CheckFinding[]
  /** Checks that ran over everything they cover (a finding of theirs not seen again is resolved). */
  fullChecks: ReadonlySet<VerifyCheck>
  /**
   * The files this run checked, for the checks that ran over them: every file id after `after` up to `lastId`
   * (files are checked in id order); their files/sources findings not seen again are resolved.
   */
  checkedFiles: {checks: ReadonlySet<VerifyCheck>; after: string | null; lastId: string | null} | null
}

export interface RecordedFindings {
  findings: Finding[]
  resolved: Finding[]
}

/**
 * Remembers findings across runs: a finding seen before and still open is not new; one open before and not seen
 * by a run that covered its object is resolved; one seen again after it was resolved is new again.
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
    findings.push(reported(f, isNew))
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
    if (before.resolved_at !== null || seen.has(before.key) || !covered(before, props)) continue
    const f = fromRow(before)
    resolved.push(reported(f, false))
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

/** The report's field order: what, how bad, whether new, then where. */
function reported(f: CheckFinding, isNew: boolean): Finding {
  return {
    check: f.check,
    code: f.code,
    severity: f.severity,
    new: isNew,
    table: f.table,
    id: f.id,
    path: f.path,
    message: f.message,
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
  if (id === null || checked === null || checked.lastId === null || !checked.checks.has(check)) return false
  const key = id.toLowerCase()
  return (checked.after === null || key > checked.after.toLowerCase()) && key <= checked.lastId.toLowerCase()
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
