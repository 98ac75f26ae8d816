import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import JSZip from 'jszip'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ZipWriter} from '../../src/export/xlsx/zip-writer.js'

describe('ZipWriter', () => {
  let work: string
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aedb-zip-'))
  })
  afterAll(async () => {
    await rm(work, {recursive: true, force: true})
  })

  it('writes entries of many blocks, pushed piece by piece, that a reader inflates byte for byte with their CRC', async () => {
    const file = path.join(work, 'a.zip')
    // About 6 MiB in pieces of every size, with multi-byte characters across block boundaries, and a piece bigger
    // than a block.
    const pieces: string[] = []
    for (let i = 0; i < 60_000; i++) pieces.push(`<row r="${i}">é€\u{1F3B5}${'x'.repeat(i % 97)}</row>`)
    pieces.push('y'.repeat(1_500_000))
    const zip = await ZipWriter.create(file)
    await zip.startEntry('big.xml')
    for (const piece of pieces) if (zip.push(piece)) await zip.drain()
    await zip.endEntry()
    await zip.add('small.xml', '<a/>')
    await zip.add('empty.xml', '')
    await zip.finish()

    const read = await JSZip.loadAsync(await readFile(file), {checkCRC32: true})
    expect(Object.keys(read.files)).toEqual(['big.xml', 'small.xml', 'empty.xml'])
    expect(await read.file('big.xml')!.async('string')).toBe(pieces.join(''))
    expect(await read.file('small.xml')!.async('string')).toBe('<a/>')
    expect(await read.file('empty.xml')!.async('string')).toBe('')
  })

  it('takes blocks filled elsewhere between pushed text, each reused only once deflated: the bytes come back in order', async () => {
    const file = path.join(work, 'b.zip')
    const zip = await ZipWriter.create(file)
    await zip.startEntry('mixed.xml')
    const expected: string[] = []
    for (let i = 0; i < 40; i++) {
      const text = `<t${i}>${'é'.repeat(i * 1000)}`
      expected.push(text)
      if (zip.push(text)) await zip.drain()
      // A block filled to a varying length with a pattern of its own, handed over; the next one may be a reused one.
      const block = zip.takeBlock()
      const used = Math.min(block.length, 100_000 + i * 25_000)
      const fill = `${String(i).padStart(3, '0')}|`.repeat(Math.ceil(used / 4)).slice(0, used)
      block.write(fill, 0, 'latin1')
      expected.push(fill)
      if (zip.pushBlock(block, used)) await zip.drain()
    }
    await zip.endEntry()
    await zip.finish()

    const read = await JSZip.loadAsync(await readFile(file), {checkCRC32: true})
    expect(await read.file('mixed.xml')!.async('string')).toBe(expected.join(''))
  })
})
