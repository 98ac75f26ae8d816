import {describe, expect, it} from 'vitest'
import {backfillExcel} from '../../../src/importers/excel/backfill-excel.js'
import {testBackends} from '../../support/backends.js'
import {editWorkbookXml, useV4Tree, walkLogPath} from '../../support/knee-trees.js'

/** `Log Created` of knee-ae-excel.md §2: serial 46348.07396053536 is 2026-11-22 01:46:30.190255. */
const MICRO_SERIAL = '46348.07396053536'
const MICRO_TEXT = '2026-11-22 01:46:30.190255'

describe.each(testBackends())('backfill-excel keeps what the workbook said on %s', (backend) => {
  const tree = useV4Tree(backend, ['1019'])

  it('keeps the microseconds of date cells, in typed columns and in extra', async () => {
    // Summary is sheet1; E2 is Log Created. A date cell in an unknown column K goes to extra.
    await editWorkbookXml(walkLogPath(tree.root, '1019'), 'xl/worksheets/sheet1.xml', (xml) =>
      xml
        .replace(/(<c r="E2"[^>]*><v>)[^<]*(<\/v>)/, `$1${MICRO_SERIAL}$2`)
        .replace(/(<c r="J1"[^>]*>.*?<\/c>)/, '$1<c r="K1" t="inlineStr"><is><t>Reviewed At</t></is></c>')
        .replace(/(<c r="J2"[^>]*>.*?<\/c>)/, `$1<c r="K2" s="2" t="n"><v>${MICRO_SERIAL}</v></c>`)
        .replace(/<dimension ref="A1:J2"\/>/, '<dimension ref="A1:K2"/>'),
    )
    const result = await backfillExcel({db: tree.db, paths: [tree.root], version: 'test'})
    expect(result.rejected).toEqual([])
    const log = await tree.db
      .selectFrom('processing_logs')
      .select(['log_created', 'extra'])
      .where('maneuver', '=', 'walk')
      .where('knee', '=', 'left')
      .executeTakeFirstOrThrow()
    expect(log.log_created).toBe(MICRO_TEXT)
    expect(log.extra['Reviewed At']).toBe(MICRO_TEXT)
  })
})
