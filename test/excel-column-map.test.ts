import {readFileSync} from 'node:fs'
import path from 'node:path'
import {expect, it} from 'vitest'
import {renderColumnMap} from '../scripts/generate-column-map.js'
import {PROJECT_ROOT} from './support/run-cli.js'

it('docs/excel-column-map.md is what the field maps generate (run npm run docs:columns)', () => {
  expect(readFileSync(path.join(PROJECT_ROOT, 'docs', 'excel-column-map.md'), 'utf8')).toBe(renderColumnMap())
})
