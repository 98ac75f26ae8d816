import type {Kysely} from 'kysely'
import {MIGRATIONS} from '../db/migrations.js'
import {getMigrationStatus, type MigrationStatus} from '../db/migrator.js'
import {finishRun, startRun} from '../db/runs.js'
import type {Database} from '../db/schema.js'
import {AedbError, EXIT} from '../errors.js'
import {checkCross} from './check-cross.js'
import {checkFiles} from './check-files.js'
import {checkRows} from './check-rows.js'
import {checkSchema} from './check-schema.js'
import {
  type CheckFinding,
  type FailOn,
  type Finding,
  reachesFailOn,
  VERIFY_CHECKS,
  type VerifyCheck,
} from './finding.js'
import {recordFindings} from './finding-history.js'
import {type RootMapping, unmatchedMappings} from './root-map.js'

export type {FailOn}

export interface VerifyProps {
  db: Kysely<Database>
  checks?: readonly VerifyCheck[]
  rehash?: boolean
  rootMap?: readonly RootMapping[]
  /** Check files for at most this long, oldest-verified first; the next limited run continues the pass. */
  timeLimitMs?: number | null
  jobs?: number
  failOn?: FailOn
  argv: readonly string[]
  version: string
  onProgress?: (p: {phase: VerifyCheck; done: number; total: number; bytesHashed: number}) => void
}

export interface VerifyResult {
  runId: string
  /** False when an open finding (found by this run or still open from an earlier one) reaches --fail-on. */
  ok: boolean
  /** False when the time limit stopped the file pass before every file of the current pass was checked. */
  complete: boolean
  checked: {files: number; bytesHashed: number; rows: number}
  /** Files verified in the current pass (across limited runs) out of all recorded files. */
  coverage: {files: number; verified: number; share: number}
  /**
   * Every open finding of the selected checks: what this run found, and what an earlier run found on files this
   * run did not reach (`checkedThisRun: false`); sorted by check, code and path.
   */
  findings: Finding[]
  resolved: Finding[]
}

/** The nightly check: reads the database and the disk, records only its own run, state and findings. */
export async function verify(props: VerifyProps): Promise<VerifyResult> {
  const checks = new Set(props.checks ?? VERIFY_CHECKS)
  // Migration checksums are compared only by the schema check; the rest needs only to know the schema is current.
  const status = await getMigrationStatus(props.db, MIGRATIONS, {checksums: checks.has('schema')})
  assertUsable(status)
  await assertRootMapMatches(props)
  const startedAt = Date.now()
  const runId = await startRun({db: props.db, command: 'verify', argv: props.argv, version: props.version})
  try {
    const result = await runChecks(props, checks, status, runId, startedAt)
    await finishRun(props.db, runId, result.ok ? 'succeeded' : 'problems', {
      complete: result.complete,
      ...result.pass,
      files: result.checked.files,
      bytesHashed: result.checked.bytesHashed,
      rows: result.checked.rows,
      findings: result.findings.length,
      new: result.findings.filter((f) => f.new).length,
      resolved: result.resolved.length,
    })
    const {pass: _pass, ...out} = result
    return out
  } catch (error) {
    await finishRun(props.db, runId, 'failed', {error: (error as Error).message}).catch(() => {})
    throw error
  }
}

/** Every --root-map names an import root or a folder above one: a mapping that maps nothing is a usage error. */
async function assertRootMapMatches(props: VerifyProps): Promise<void> {
  if (!props.rootMap || props.rootMap.length === 0) return
  const roots = (await props.db.selectFrom('import_roots').select('path').execute()).map((r) => r.path)
  const [first] = unmatchedMappings(roots, props.rootMap)
  if (!first) return
  const {mapping, insideRoot} = first
  const suggestion = insideRoot
    ? `Import roots are mapped whole: ${mapping.from} is inside the import root ${insideRoot}, so map that, e.g. --root-map ${insideRoot}=<where ${insideRoot} is now>.`
    : `The import roots are: ${roots.join(', ') || '(none: nothing was imported)'}. OLD is one of them or a folder above one.`
  throw new AedbError(`--root-map ${mapping.from}=${mapping.to} maps no import root.`, {
    code: 'USAGE',
    exit: EXIT.USAGE,
    suggestions: [suggestion],
  })
}

async function runChecks(
  props: VerifyProps,
  checks: ReadonlySet<VerifyCheck>,
  status: MigrationStatus,
  runId: string,
  startedAt: number,
): Promise<VerifyResult & {pass: PassState}> {
  const rootMap = props.rootMap ?? []
  const found: CheckFinding[] = []
  if (checks.has('schema')) found.push(...(await checkSchema(props.db, status)))
  let rows = 0
  if (checks.has('rows')) {
    const checked = await checkRows(props.db)
    found.push(...checked.findings)
    rows = checked.rows
  }
  if (checks.has('cross')) found.push(...(await checkCross({db: props.db, rootMap})))
  const limit = props.timeLimitMs ?? null
  const include = {files: checks.has('files'), sources: checks.has('sources')}
  const pass = limit === null ? newPass(startedAt) : await currentPass(props.db, include, startedAt)
  const files =
    include.files || include.sources
      ? await checkFiles({
          db: props.db,
          runId,
          include,
          rehash: props.rehash ?? false,
          rootMap,
          jobs: props.jobs ?? 4,
          deadline: limit === null ? null : startedAt + limit,
          after: pass.after,
          onProgress: (p) => props.onProgress?.({phase: 'files', ...p}),
        })
      : null
  found.push(...(files?.findings ?? []))
  const complete = files === null || files.reachedEnd
  const fullChecks = new Set([...checks].filter((c) => (c !== 'files' && c !== 'sources') || limit === null))
  const recorded = await recordFindings({
    db: props.db,
    runId,
    findings: sortFindings(found),
    checks,
    fullChecks,
    checkedFiles: files
      ? {
          checks: new Set([...checks].filter((c) => c === 'files' || c === 'sources')),
          after: pass.after,
          lastId: files.lastId,
          toEnd: complete,
        }
      : null,
  })
  const total = files?.total ?? 0
  const verified = files ? Math.min(total, pass.verified + files.checked) : 0
  return {
    runId,
    ok: !recorded.findings.some((f) => reachesFailOn(f, props.failOn ?? 'error')),
    complete,
    checked: {files: files?.checked ?? 0, bytesHashed: files?.bytesHashed ?? 0, rows},
    coverage: {
      files: total,
      verified,
      share: total === 0 ? 1 : Math.round((verified / total) * 10000) / 10000,
    },
    findings: sortFindings(recorded.findings),
    resolved: recorded.resolved,
    pass: {
      cycleStartedAt: pass.cycleStartedAt,
      scope: scopeKey(include),
      filesFrom: pass.after,
      filesTo: complete ? null : (files?.lastId ?? pass.after),
      verified,
    },
  }
}

/**
 * Where a pass over the files stands, as recorded in the counts of the verify run that last ended: files are
 * checked in id order, and a time-limited run that stopped part-way left `filesTo`, the last file it checked. A
 * run with a time limit continues after it (with the same checks selected); otherwise a new pass begins.
 */
interface PassState {
  cycleStartedAt: string
  scope: string
  /** The pass continues after this file id (null: from the first). */
  filesFrom: string | null
  /** Where the next run continues (null: the pass is complete). */
  filesTo: string | null
  /** Files verified in this pass so far, this run included. */
  verified: number
}

interface PassStart {
  after: string | null
  cycleStartedAt: string
  verified: number
}

function newPass(startedAt: number): PassStart {
  return {after: null, cycleStartedAt: new Date(startedAt).toISOString(), verified: 0}
}

function scopeKey(include: {files: boolean; sources: boolean}): string {
  return [include.files && 'files', include.sources && 'sources'].filter(Boolean).join(',')
}

async function currentPass(
  db: Kysely<Database>,
  include: {files: boolean; sources: boolean},
  startedAt: number,
): Promise<PassStart> {
  const previous = await db
    .selectFrom('runs')
    .select(['counts'])
    .where('command', '=', 'verify')
    .where('outcome', 'in', ['succeeded', 'problems'])
    .orderBy('started_at', 'desc')
    .limit(1)
    .executeTakeFirst()
  const counts = previous?.counts as Partial<PassState> & {complete?: boolean}
  if (counts?.complete !== false || !counts.filesTo || counts.scope !== scopeKey(include)) {
    return newPass(startedAt)
  }
  return {
    after: counts.filesTo,
    cycleStartedAt: counts.cycleStartedAt ?? new Date(startedAt).toISOString(),
    verified: counts.verified ?? 0,
  }
}

function assertUsable(status: MigrationStatus): void {
  const outOfOrder = new Set(status.problems.filter((p) => p.kind === 'out-of-order').map((p) => p.name))
  const pending = status.pending.filter((name) => !outOfOrder.has(name))
  if (pending.length > 0) {
    throw new AedbError(
      `The database schema is behind: ${pending.length} migration(s) not applied (${pending.join(', ')}).`,
      {
        code: 'SCHEMA_BEHIND',
        exit: EXIT.DATABASE,
        suggestions: ['Run `aedb migrate` (or `aedb init`) first.'],
      },
    )
  }
}

const CHECK_ORDER = new Map(VERIFY_CHECKS.map((c, i) => [c, i]))

function sortFindings<T extends CheckFinding>(findings: readonly T[]): T[] {
  return [...findings].sort(
    (a, b) =>
      (CHECK_ORDER.get(a.check) ?? 0) - (CHECK_ORDER.get(b.check) ?? 0) ||
      a.code.localeCompare(b.code) ||
      (a.path ?? a.id ?? '').localeCompare(b.path ?? b.id ?? ''),
  )
}
