import {describe, expect, it} from 'vitest'
import {GROUP_ROWS, groupLogs} from '../../src/export/copy-table-lines.js'

describe('groupLogs', () => {
  it('keeps logs in order, whole, in groups of about GROUP_ROWS rows; a bigger log is a group alone', () => {
    const half = GROUP_ROWS / 2
    const logs = [
      {id: 'a', n: half},
      {id: 'b', n: half},
      {id: 'c', n: 1},
      {id: 'd', n: GROUP_ROWS * 3},
      {id: 'e', n: 5},
    ]
    expect(groupLogs(logs)).toEqual([['a', 'b'], ['c'], ['d'], ['e']])
    expect(groupLogs([])).toEqual([])
    const many = Array.from({length: 1200}, (_, i) => ({id: String(i), n: 1}))
    const groups = groupLogs(many)
    expect(groups.map((g) => g.length)).toEqual([500, 500, 200])
    expect(groups.flat()).toEqual(many.map((l) => l.id))
  })
})
