import {describe, expect, it} from 'vitest'
import {canonicalJson} from '../../src/db/deterministic-id.js'

/** The definition stored content hashes were made with: canonicalJson must give exactly its bytes. */
function reference(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return `__non_finite__${String(v)}`
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, (v as Record<string, unknown>)[k]]),
      )
    }
    return v
  })
}

/** A small deterministic generator (mulberry32), so a failure is reproducible from its seed. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const KEYS = [
  '10',
  '9',
  '0',
  '01',
  '4294967295',
  '4294967294',
  'a',
  'B',
  'é',
  '__proto__',
  '',
  'Sync Time (s)',
  'z',
]
const NUMBERS = [
  0,
  -0,
  1.5,
  -2,
  1e21,
  5e-324,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  2 ** 53,
]
const STRINGS = [
  '',
  'plain',
  'quote " and \\ backslash',
  'tab\tnewline\n',
  '\u0000\u001f',
  '\ud800 lone',
  '🎵',
  'ü',
]

function value(next: () => number, depth: number): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!
  const kind = Math.floor(next() * (depth > 3 ? 6 : 9))
  switch (kind) {
    case 0:
      return null
    case 1:
      return pick(NUMBERS)
    case 2:
      return pick(STRINGS)
    case 3:
      return next() < 0.5
    case 4:
      return next() < 0.5 ? new Date(Date.UTC(2024, 2, 15, 16, 58, 51, 123)) : new Date(Number.NaN)
    case 5:
      return undefined
    case 6:
      return Array.from({length: Math.floor(next() * 4)}, () => value(next, depth + 1))
    default: {
      const object: Record<string, unknown> = {}
      for (let i = Math.floor(next() * 6); i > 0; i--)
        Object.defineProperty(object, pick(KEYS), {
          value: value(next, depth + 1),
          enumerable: true,
          configurable: true,
          writable: true,
        })
      return object
    }
  }
}

describe('canonicalJson', () => {
  it('writes the same bytes as the original definition for 20,000 generated values', () => {
    const next = random(20261206)
    let compared = 0
    for (let i = 0; i < 20_000; i++) {
      const v = value(next, 0)
      expect(canonicalJson(v), JSON.stringify(reference(v))).toBe(reference(v))
      compared++
    }
    expect(compared).toBe(20_000)
  })

  it('orders array-index keys numerically and the others by code unit, as the original did', () => {
    const v = {b: 1, '10': 2, a: 3, '9': 4, '01': 5, B: 6}
    expect(canonicalJson(v)).toBe('{"9":4,"10":2,"01":5,"B":6,"a":3,"b":1}')
    expect(canonicalJson(v)).toBe(reference(v))
    expect(canonicalJson({x: Number.NaN, y: [undefined, () => 1], z: undefined})).toBe(
      '{"x":"__non_finite__NaN","y":[null,null]}',
    )
  })
})
