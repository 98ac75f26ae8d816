import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {durationAgrees, sizeAgrees} from '../../src/verify/check-cross.js'
import {parseTimeLimit} from '../../src/verify/parse-time-limit.js'
import {mapRoot, unmatchedMappings} from '../../src/verify/root-map.js'
import {parseVerifyOptions} from '../../src/verify/verify-options.js'

describe('verify options', () => {
  it('reads --time-limit durations', () => {
    expect(parseTimeLimit('30m')).toBe(1_800_000)
    expect(parseTimeLimit('1h30m')).toBe(5_400_000)
    expect(parseTimeLimit('90s')).toBe(90_000)
    expect(parseTimeLimit('250ms')).toBe(250)
    expect(parseTimeLimit('soon')).toBeNull()
    expect(parseTimeLimit('30')).toBeNull()
    expect(parseTimeLimit('0m')).toBe(0)
  })

  it('refuses unknown checks, bad root maps and bad durations as usage errors (exit 2)', () => {
    expect(parseVerifyOptions({check: 'files, rows'}).checks).toEqual(['files', 'rows'])
    for (const flags of [{check: 'files,bogus'}, {check: ','}, {rootMap: ['nowhere']}, {timeLimit: 'soon'}]) {
      expect(() => parseVerifyOptions(flags)).toThrow(expect.objectContaining({exit: 2, code: 'USAGE'}))
    }
  })

  it('reads check names in any case, as every option value', () => {
    expect(parseVerifyOptions({check: 'FILES, Rows'}).checks).toEqual(['files', 'rows'])
  })

  it('says which units a --time-limit takes, and that a zero limit is refused as zero, not as a non-duration', () => {
    expect(() => parseVerifyOptions({timeLimit: '30'})).toThrow(
      /not a duration: a number and a unit, h, m, s or ms/,
    )
    for (const timeLimit of ['0s', '0ms', '0h0m']) {
      expect(() => parseVerifyOptions({timeLimit})).toThrow(
        expect.objectContaining({
          exit: 2,
          message: `--time-limit "${timeLimit}": the limit must be more than zero.`,
        }),
      )
    }
    expect(parseVerifyOptions({timeLimit: '1ms'}).timeLimitMs).toBe(1)
  })

  it('maps a root and its subfolders through the longest matching --root-map', () => {
    const {rootMap} = parseVerifyOptions({rootMap: ['/mnt/old=/data/new', '/mnt/old/media=/fast/media']})
    expect(mapRoot('/mnt/old', rootMap)).toBe('/data/new')
    expect(mapRoot('/mnt/old/logs', rootMap)).toBe(path.join('/data/new', 'logs'))
    expect(mapRoot('/mnt/old/media/one', rootMap)).toBe(path.join('/fast/media', 'one'))
    expect(mapRoot('/mnt/older', rootMap)).toBe('/mnt/older')
  })

  it('maps from / (every root under it); a mapping that maps no root is found, with the root holding it', () => {
    const {rootMap} = parseVerifyOptions({rootMap: ['/=/mnt/x']})
    expect(mapRoot('/data/logs', rootMap)).toBe('/mnt/x/data/logs')
    expect(unmatchedMappings(['/data/logs'], rootMap)).toEqual([])
    const inside = parseVerifyOptions({rootMap: ['/data/logs/#1011=/elsewhere', '/data=/d']}).rootMap
    expect(unmatchedMappings(['/data/logs'], inside)).toEqual([
      {mapping: inside[0], insideRoot: '/data/logs'},
    ])
    const typo = parseVerifyOptions({rootMap: ['/dtaa=/d']}).rootMap
    expect(unmatchedMappings(['/data/logs'], typo)).toEqual([{mapping: typo[0], insideRoot: null}])
  })

  it('states the documented tolerances for stated vs measured values', () => {
    expect(sizeAgrees(10, 10_000_000)).toBe(true)
    expect(sizeAgrees(10, 10 * 1_048_576)).toBe(true)
    expect(sizeAgrees(10, 10_200_000)).toBe(false)
    expect(sizeAgrees(0.01, 50_000)).toBe(true)
    expect(durationAgrees(60, 60.4)).toBe(true)
    expect(durationAgrees(600, 605)).toBe(true)
    expect(durationAgrees(600, 607)).toBe(false)
  })
})
