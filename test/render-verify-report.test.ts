import {describe, expect, it} from 'vitest'
import {LINES_PER_CODE, renderQuietReport, renderVerifyReport} from '../src/render-verify-report.js'
import type {Finding} from '../src/verify/finding.js'
import type {VerifyResult} from '../src/verify/verify.js'

function finding(
  code: string,
  severity: Finding['severity'],
  i: number,
  isNew = true,
  checkedThisRun = true,
): Finding {
  return {
    check: 'files',
    code,
    severity,
    new: isNew,
    table: 'files',
    id: `id-${i}`,
    path: `/data/f${String(i).padStart(3, '0')}.pkl`,
    message: `${code} message ${i}`,
    checkedThisRun,
    lastSeen: '2026-12-05T02:15:07.123Z',
  }
}

function result(findings: Finding[], resolved: Finding[] = []): VerifyResult {
  return {
    runId: 'run-1',
    ok: !findings.some((f) => f.severity === 'error'),
    complete: true,
    checked: {files: findings.length, bytesHashed: 0, rows: 0},
    coverage: {files: findings.length, verified: findings.length, share: 1},
    findings,
    resolved,
  }
}

describe('verify reports for people', () => {
  const absent = Array.from({length: 25}, (_, i) => finding('FILE_ABSENT_AT_IMPORT', 'warning', i))
  const missing = [finding('FILE_MISSING', 'error', 100), finding('FILE_MISSING', 'error', 101)]

  it('shows at most LINES_PER_CODE findings of one code and counts the rest on one line', () => {
    const quiet = renderQuietReport(result([...absent, ...missing])).split('\n')
    expect(quiet).toHaveLength(LINES_PER_CODE + 1 + missing.length)
    expect(quiet.slice(0, LINES_PER_CODE)).toEqual(
      absent.slice(0, LINES_PER_CODE).map((f) => expect.stringContaining(f.message)),
    )
    expect(quiet[LINES_PER_CODE]).toMatch(
      /^warning FILE_ABSENT_AT_IMPORT \[files\] \(new\) … and 15 more like these \(`aedb verify --json` lists every one\)$/,
    )
    expect(quiet.slice(-2)).toEqual(missing.map((f) => expect.stringContaining(f.message)))
  })

  it('caps the full report the same way, resolved findings too, and keeps the counts table whole', () => {
    const resolved = Array.from({length: 12}, (_, i) => finding('FILE_MISSING', 'error', 200 + i, false))
    const text = renderVerifyReport(result([...absent, ...missing], resolved))
    expect(text).toMatch(/FILE_ABSENT_AT_IMPORT\s+warning\s+25\s+25\s+0/)
    expect(text).toContain('Findings (27):')
    expect(text).toContain('… and 15 more like these')
    expect(text).toContain('Resolved since the last run (12):')
    expect(text).toMatch(/error {3}FILE_MISSING \[files\] \(resolved\) … and 2 more like these/)
    const resolvedLines = text.split('\n').filter((l) => l.includes('(resolved) FILE_MISSING message'))
    expect(resolvedLines).toHaveLength(LINES_PER_CODE)
  })

  it('--quiet prints every finding that makes the run fail: known warnings too under --fail-on warning', () => {
    const known = [finding('SOURCE_CHANGED', 'warning', 300, false)]
    expect(renderQuietReport(result(known))).toBe('')
    expect(renderQuietReport(result(known), 'error')).toBe('')
    expect(renderQuietReport(result(known), 'warning')).toBe(
      'warning SOURCE_CHANGED [files] SOURCE_CHANGED message 300',
    )
  })

  it('marks a finding still open from an earlier run on a file this run did not re-check, with when it was seen', () => {
    const carried = finding('FILE_MISSING', 'error', 400, false, false)
    const text = renderVerifyReport(result([carried, ...missing]))
    expect(text).toContain('Findings (3, 1 still open from earlier runs on files not re-checked):')
    expect(text).toContain(
      'error   FILE_MISSING [files] (not re-checked this run, last seen 2026-12-05 02:15 UTC) FILE_MISSING message 400',
    )
    expect(renderQuietReport(result([carried]))).toContain('(not re-checked this run, last seen')
  })
})
