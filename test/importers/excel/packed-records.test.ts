import {isDeepStrictEqual} from 'node:util'
import fg from 'fast-glob'
import {describe, expect, it} from 'vitest'
import {packRecords, releaseRecords, unpackRecords} from '../../../src/importers/excel/packed-records.js'
import type {ParsedLog} from '../../../src/importers/excel/parse-log.js'
import {readAndParse} from '../../../src/importers/excel/read-and-parse.js'
import {KNEE_SAMPLE_VERSIONS, kneeSampleDir} from '../../support/knee-samples.js'

/** Every sample log of every layout, parsed (as the worker does) and with its records put back. */
async function parsedSamples(): Promise<Array<{file: string; parsed: ParsedLog; packedRows: number}>> {
  const out = []
  for (const version of KNEE_SAMPLE_VERSIONS) {
    const root = kneeSampleDir(version)
    for (const file of await fg('**/*.xlsx', {cwd: root, absolute: true})) {
      const outcome = await readAndParse({absolute: file, options: {file, absolutePath: file}})
      if (outcome.kind !== 'parsed' || !outcome.result.parsed || !outcome.packed) continue
      const packedRows = outcome.packed.rows
      expect(outcome.packed.bytes.length).toBeGreaterThan(0)
      // Exactly its own bytes: a view of zlib's larger output block would keep (and postMessage clone) all of it.
      expect(outcome.packed.bytes.buffer.byteLength).toBe(outcome.packed.bytes.byteLength)
      // Packed too: the Summary row's original cells, for a later refusal (study, duplicate) to quote.
      expect(outcome.rawRows).toBeInstanceOf(Uint8Array)
      unpackRecords(outcome.result.parsed, outcome.packed)
      out.push({file, parsed: outcome.result.parsed, packedRows})
    }
  }
  return out
}

describe('packed row records', () => {
  it('give back exactly the records of every sample log, with the facts the run reads before writing', async () => {
    const samples = await parsedSamples()
    expect(samples.length).toBeGreaterThan(50)
    for (const {file, parsed, packedRows} of samples) {
      const copy = structuredClone(parsed)
      const packed = packRecords(copy)
      const lists = parsed.kind === 'knee' ? [parsed.maneuvers] : [parsed.audio, parsed.syncs, parsed.cycles]
      expect(packed.rows, file).toBe(packedRows)
      expect(packed.rows, file).toBe(
        1 +
          (parsed.kind === 'knee'
            ? parsed.maneuvers.length
            : parsed.audio.length +
              parsed.biomechanics.length +
              parsed.syncs.length +
              parsed.summaries.length +
              parsed.cycles.length),
      )
      expect(copy.log.values, file).toEqual({})
      if (lists.some((l) => l.length > 0)) expect(isDeepStrictEqual(copy, parsed), file).toBe(false)
      unpackRecords(copy, packed)
      expect(isDeepStrictEqual(copy, parsed), file).toBe(true)
      if (parsed.kind === 'maneuver') {
        expect(packed.cycles).toBe(parsed.cycles.length)
        expect(packed.summaries).toBe(parsed.summaries.length)
      } else {
        expect(packed.modernManeuvers).toBe(
          parsed.maneuvers.some((m) => m.values.consensus_time_s != null && 'consensus_time_s' in m.values),
        )
      }
      releaseRecords(copy)
      expect(copy.kind === 'knee' ? copy.maneuvers : copy.cycles).toEqual([])
    }
  })

  it('keep values JSON would change: dates, NaN, -0, undefined', () => {
    const record = {
      values: {when: new Date(Date.UTC(2024, 2, 15)), nan: Number.NaN, zero: -0, gone: undefined},
      extra: {},
      sheet: 'Audio',
      row: 2,
    }
    const log = {kind: 'maneuver', audio: [record], biomechanics: [], syncs: [], summaries: [], cycles: []}
    const packed = packRecords(log as unknown as ParsedLog)
    expect(log.audio).toEqual([])
    unpackRecords(log as unknown as ParsedLog, packed)
    expect(isDeepStrictEqual(log.audio, [record])).toBe(true)
    expect(Object.is(log.audio[0]!.values.zero, -0)).toBe(true)
  })
})
