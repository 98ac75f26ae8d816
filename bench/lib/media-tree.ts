/**
 * A synthetic stemset media tree for `import-json`: N recording folders under media/bench/, each a copy of the real
 * sample recording fixtures/stemset/media/one/take_5_132df89d (metadata.json, four Opus stems, four waveform PNGs)
 * under its own name, so every file is real audio that music-metadata probes.
 */
import {copyFile, mkdir, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {BENCH_OUT, REPO_ROOT} from '../generate-corpus.js'

const TEMPLATE_NAME = 'take_5_132df89d'
const TEMPLATE = path.join(REPO_ROOT, 'fixtures', 'stemset', 'media', 'one', TEMPLATE_NAME)

export interface MediaTree {
  /** The folder to give `aedb import-json` (a bare media/ folder). */
  media: string
  recordings: number
  files: number
  bytes: number
}

export async function generateMediaTree(count: number): Promise<MediaTree> {
  const root = path.join(BENCH_OUT, `media-tree-${count}`)
  await rm(root, {recursive: true, force: true})
  const names = await readdir(TEMPLATE)
  const metadata = await readFile(path.join(TEMPLATE, 'metadata.json'), 'utf8')
  let files = 0
  let bytes = 0
  for (let i = 0; i < count; i++) {
    // A hex suffix like the app's (its first 8 hex digits of the source hash), distinct per folder.
    const name = `bench_take_${i}_${(0x10000000 + i).toString(16)}`
    const folder = path.join(root, 'media', 'bench', name)
    await mkdir(folder, {recursive: true})
    for (const file of names) {
      const target = path.join(folder, file)
      if (file === 'metadata.json') await writeFile(target, metadata.replaceAll(TEMPLATE_NAME, name))
      else await copyFile(path.join(TEMPLATE, file), target)
      files++
      bytes += (await stat(target)).size
    }
  }
  return {media: path.join(root, 'media'), recordings: count, files, bytes}
}
