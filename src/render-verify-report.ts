import {renderTable} from './render-table.js'
import {type FailOn, type Finding, reachesFailOn} from './verify/finding.js'
import type {VerifyResult} from './verify/verify.js'

/**
 * One finding on one line: `error FILE_MISSING [files] (new) message`; one still open from an earlier run on a file
 * this run did not reach says so and when it was last seen.
 */
export function renderFinding(f: Finding, resolved = false): string {
  const seen =
    f.checkedThisRun || resolved ? '' : `, last seen ${f.lastSeen.slice(0, 16).replace('T', ' ')} UTC`
  return `${f.severity.padEnd(7)} ${f.code} [${f.check}]${mark(f, resolved, seen)} ${f.message}`
}

function mark(f: Finding, resolved: boolean, seen = ''): string {
  if (resolved) return ' (resolved)'
  if (!f.checkedThisRun) return ` (not re-checked this run${seen})`
  return f.new ? ' (new)' : ''
}

/** The human report: counts per check and code, every open finding, what was resolved, coverage. */
export function renderVerifyReport(result: VerifyResult): string {
  const lines: string[] = []
  const c = result.checked
  const share = `${(result.coverage.share * 100).toFixed(1)}%`
  lines.push(
    `Checked ${c.files} file(s) (${(c.bytesHashed / 1048576).toFixed(1)} MiB hashed) and ${c.rows} row(s)${
      result.complete
        ? '.'
        : `; stopped at the time limit: ${result.coverage.verified}/${result.coverage.files} files (${share}) verified in this pass, the next run continues.`
    }`,
  )
  if (result.findings.length + result.resolved.length > 0) {
    const groups = new Map<
      string,
      {check: string; code: string; severity: string; open: number; isNew: number; resolved: number}
    >()
    const group = (f: Finding) => {
      const key = `${f.check}|${f.code}`
      let g = groups.get(key)
      if (!g) {
        g = {check: f.check, code: f.code, severity: f.severity, open: 0, isNew: 0, resolved: 0}
        groups.set(key, g)
      }
      return g
    }
    for (const f of result.findings) {
      const g = group(f)
      g.open++
      if (f.new) g.isNew++
    }
    for (const f of result.resolved) group(f).resolved++
    lines.push(
      '',
      renderTable(
        ['check', 'code', 'severity', 'open', 'new', 'resolved'],
        [...groups.values()].map((g) => [
          g.check,
          g.code,
          g.severity,
          String(g.open),
          String(g.isNew),
          String(g.resolved),
        ]),
      ),
    )
  }
  if (result.findings.length > 0) {
    const notRechecked = result.findings.filter((f) => !f.checkedThisRun).length
    const carried =
      notRechecked === 0 ? '' : `, ${notRechecked} still open from earlier runs on files not re-checked`
    lines.push('', `Findings (${result.findings.length}${carried}):`)
    for (const line of capPerCode(result.findings, false)) lines.push(`  ${line}`)
  }
  if (result.resolved.length > 0) {
    lines.push('', `Resolved since the last run (${result.resolved.length}):`)
    for (const line of capPerCode(result.resolved, true)) lines.push(`  ${line}`)
  }
  lines.push('', `${result.ok ? 'OK' : 'PROBLEMS'}: run ${result.runId}`)
  return lines.join('\n')
}

/**
 * What cron mails: every error, every new warning, every finding that makes the run fail (a known warning under
 * --fail-on warning) and what was resolved, one a line; nothing when all is known and fine (warnings already
 * reported on an earlier night are in the full report and in --json).
 */
export function renderQuietReport(result: VerifyResult, failOn: FailOn = 'error'): string {
  return [
    ...capPerCode(
      result.findings.filter((f) => f.severity === 'error' || f.new || reachesFailOn(f, failOn)),
      false,
    ),
    ...capPerCode(result.resolved, true),
  ].join('\n')
}

/** Findings of one code and kind shown one a line, before the rest are counted on one line. */
export const LINES_PER_CODE = 10

/**
 * One line per finding, but at most LINES_PER_CODE of one code, severity, newness and whether re-checked: a first night over a tree
 * whose referenced files were never there (hundreds of FILE_ABSENT_AT_IMPORT) or an unmounted disk (every file
 * FILE_MISSING) gives a report a person reads, and one line says how many more there are and where to see them.
 */
function capPerCode(findings: readonly Finding[], resolved: boolean): string[] {
  const groups = new Map<string, {lines: string[]; more: number; last: Finding}>()
  for (const f of findings) {
    const key = `${f.code}|${f.check}|${f.severity}|${f.new}|${f.checkedThisRun}`
    const group = groups.get(key) ?? {lines: [], more: 0, last: f}
    groups.set(key, group)
    if (group.lines.length < LINES_PER_CODE) group.lines.push(renderFinding(f, resolved))
    else group.more++
  }
  return [...groups.values()].flatMap(({lines, more, last: f}) => {
    if (more === 0) return lines
    const tail = `${f.severity.padEnd(7)} ${f.code} [${f.check}]${mark(f, resolved)} … and ${more} more like these (\`aedb verify --json\` lists every one)`
    return [...lines, tail]
  })
}
