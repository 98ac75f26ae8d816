import {describe, expect, it} from 'vitest'
import type {FileRecord} from '../../../src/files/file-catalog.js'
import {folderHashSuffix, legacyOutputName} from '../../../src/importers/json/legacy-output-name.js'
import {linkSource, type SourceFile} from '../../../src/importers/json/link-source.js'
import {MetadataShapeError, parseMetadata} from '../../../src/importers/json/metadata-layout.js'
import {readStemsetConfig} from '../../../src/importers/json/stemset-config.js'
import {JsonSyntaxError, parseTolerantJson} from '../../../src/importers/json/tolerant-json.js'

describe('parseTolerantJson', () => {
  it('reads what JSON.parse reads', () => {
    const text = '{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n\\"q\\"", {}], "b": {"c": []}}'
    expect(parseTolerantJson(text)).toEqual(JSON.parse(text))
  })

  it("reads Python's bare NaN, Infinity and -Infinity", () => {
    const value = parseTolerantJson('{"a": -Infinity, "b": Infinity, "c": NaN, "d": [-Infinity]}') as Record<
      string,
      unknown
    >
    expect(value.a).toBe(Number.NEGATIVE_INFINITY)
    expect(value.b).toBe(Number.POSITIVE_INFINITY)
    expect(value.c).toBeNaN()
    expect(value.d).toEqual([Number.NEGATIVE_INFINITY])
  })

  it('keeps the last of duplicate keys, skips a BOM, and never sets a prototype', () => {
    const value = parseTolerantJson('\ufeff{"a": 1, "a": 2, "__proto__": {"polluted": true}}') as Record<
      string,
      unknown
    >
    expect(value.a).toBe(2)
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.keys(value)).toEqual(['a', '__proto__'])
  })

  it.each([
    ['{"a": 1,}', 1, 9, 'expected a key in double quotes'],
    ['{\n  "a": 1\n  "b": 2\n}', 3, 3, "expected ',' or '}'"],
    ['{"a": tru}', 1, 7, 'expected a value'],
    ['{"a": "x', 1, 7, 'unterminated string'],
    ['[1, 2', 1, 6, 'the end of the file'],
    ['{"a": 1} x', 1, 10, 'after the end of the document'],
    ['{"a": -}', 1, 7, 'expected a number'],
    ['', 1, 1, 'expected a value'],
  ])('reports %j failing at line %i, column %i', (text, line, column, reason) => {
    try {
      parseTolerantJson(text)
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(JsonSyntaxError)
      expect(error).toMatchObject({line, column})
      expect((error as Error).message).toContain(reason)
    }
  })
})

describe('parseMetadata', () => {
  const stem = {stem_type: 'vocals', measured_lufs: -20}
  it.each([
    ['v0', {vocals: {...stem, target_lufs: -23, stem_gain_adjustment_db: 0}}],
    ['v1a', {stems: {vocals: stem}}],
    ['v1b', {stems: {vocals: {...stem, waveform_url: '/api/profiles/p/songs/s/stems/vocals/waveform'}}}],
    ['v2', {stems: {vocals: {...stem, peak_amplitude: 0.5, stem_gain_adjustment_db: 0, waveform_url: 'x'}}}],
    [
      'v3',
      {
        stems: {
          vocals: {
            ...stem,
            peak_amplitude: 0.5,
            stem_gain_adjustment_db: 0,
            stem_url: 'vocals.opus',
            waveform_url: 'x',
          },
        },
      },
    ],
    ['v4', {stems: {vocals: {...stem, stem_url: 'vocals.opus'}}, display_name: ''}],
  ])('detects %s by shape', (layout, value) => {
    expect(parseMetadata(value as never).layout).toBe(layout)
  })

  it('names the JSON path of a wrong value', () => {
    expect(() => parseMetadata({stems: {'lead vox': {measured_lufs: '-3'}}})).toThrow(MetadataShapeError)
    expect(() => parseMetadata({stems: {'lead vox': {measured_lufs: '-3'}}})).toThrow(
      'stems["lead vox"].measured_lufs',
    )
    expect(() => parseMetadata({stems: []})).toThrow(
      'stems: expected an object keyed by stem name, found an array',
    )
    expect(() => parseMetadata([] as never)).toThrow('expected a JSON object')
    expect(() => parseMetadata({stems: {}, display_name: 3})).toThrow('display_name')
  })
})

describe('legacyOutputName', () => {
  it.each([
    ['Café Tacvba – Eres (cover).wav', 'Café_Tacvba_Eres_cover'],
    ['riff idea #2.wav', 'riff_idea_2'],
    ['jam_2025-10-28 (copy).wav', 'jam_2025-10-28_copy'],
    ['Bjo\u0308rk.wav', 'Bjo_rk'],
    ['???.wav', 'unnamed'],
    ['251019-001.wav', '251019-001'],
  ])('%s -> %s', (file, name) => {
    expect(legacyOutputName(file)).toBe(name)
  })

  it('finds the 8-hex suffix only at the end', () => {
    expect(folderHashSuffix('take_5_132df89d')).toBe('132df89d')
    expect(folderHashSuffix('251019-001')).toBeNull()
    expect(folderHashSuffix('take_1')).toBeNull()
  })
})

describe('linkSource', () => {
  const source = (fileName: string, sha256: string): SourceFile => ({
    fileName,
    record: {rel_path: `input/${fileName}`, sha256} as FileRecord & {sha256: string},
  })
  const a = `aa830cb3${'0'.repeat(56)}`
  const b = `bb${'1'.repeat(62)}`
  it('prefers a hashed source file matching the suffix, whatever its name', () => {
    expect(
      linkSource({
        folderName: 'Demo_aa830cb3',
        sources: [source('renamed.flac', a)],
        processedHashes: [],
        knownHashes: new Set(),
      }),
    ).toMatchObject({link: 'hashed_source', sha256: a})
  })
  it('links by the legacy name rule when nothing contradicts it', () => {
    expect(
      linkSource({
        folderName: 'take_1',
        sources: [source('take 1.wav', b)],
        processedHashes: [],
        knownHashes: new Set(),
      }),
    ).toMatchObject({link: 'hashed_source', sha256: b})
  })
  it('warns instead of relinking when the named file changed after processing', () => {
    const link = linkSource({
      folderName: 'take_1',
      sources: [source('take 1.wav', b)],
      processedHashes: [a],
      knownHashes: new Set(),
    })
    expect(link).toMatchObject({link: 'processed_hashes', sha256: a})
    expect(link.warnings[0]).toContain('changed after processing')
  })
  it('falls back to a unique known hash with the suffix, else to none', () => {
    expect(
      linkSource({folderName: 'x_aa830cb3', sources: [], processedHashes: [], knownHashes: new Set([a, b])}),
    ).toMatchObject({link: 'folder_suffix', sha256: a})
    expect(
      linkSource({folderName: 'x_cccccccc', sources: [], processedHashes: [], knownHashes: new Set([a])}),
    ).toMatchObject({link: 'none', sha256: null})
  })
})

describe('readStemsetConfig', () => {
  it('reads both eras and keeps unknown keys, with unset placeholders left as text', () => {
    const config = readStemsetConfig(`
gpu_worker_url: \${UNSET}
profiles:
  - name: new
    source_folder: \${UNSET_DIR}
    strategy: s
    remote: true
    output: {format: aac, bitrate: 96, quality: high}
  - name: old
    source_folder: ./in
    target_lufs: -23.0
    stem_gains: {vocals: 0.0}
    output_format: wav
    opus_bitrate: 192
  - name: weird
    output: {format: flac}
  - strategy: nameless
`)
    expect(config.profiles.map((p) => [p.name, p.outputFormat, p.outputBitrate, p.extra])).toEqual([
      ['new', 'aac', 96, {remote: true, 'output.quality': 'high'}],
      ['old', 'wav', 192, {target_lufs: -23, stem_gains: {vocals: 0}}],
      ['weird', null, null, {output_format: 'flac'}],
    ])
    expect(config.profiles[0]!.sourceFolder).toBe('$' + '{UNSET_DIR}')
    expect(config.problems).toEqual([
      {path: 'profiles[3].name', message: 'expected the profile name as a string'},
    ])
  })
})
