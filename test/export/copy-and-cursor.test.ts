import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import JSZip from 'jszip'
import {sql} from 'kysely'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {OpenDatabase} from '../../src/db/connection.js'
import {exportExcel} from '../../src/export/export-excel.js'
import {createTestDatabase, type TestDatabase, testBackends} from '../support/backends.js'

/**
 * On PostgreSQL a table is read with COPY (in chunks the network decides); without a COPY connection, through a
 * cursor 2,000 rows at a time. Both must write the same sheet, column widths included: the widths come from the
 * first 2,000 rows, whatever the chunks.
 */
describe.runIf(testBackends().includes('postgres'))('COPY and cursor exports on postgres', () => {
  const backend = 'postgres' as const
  let testDb: TestDatabase
  let open: OpenDatabase
  let work: string

  beforeAll(async () => {
    testDb = await createTestDatabase(backend)
    open = await testDb.open()
    work = await mkdtemp(path.join(tmpdir(), 'aedb-copy-cursor-'))
    // 6,000 cycles in 3 logs of 2,000. The export's first log is fe (knee, then maneuver order), whose cycle_file
    // texts are short; the two logs after it have much wider ones.
    await sql`insert into studies (id, name) values ('00000000-0000-5000-8000-000000000001', 'AOA')`.execute(
      open.db,
    )
    await sql`insert into participants (id, study_id, participant_number)
      values ('00000000-0000-5000-8001-000000000001', '00000000-0000-5000-8000-000000000001', 1001)`.execute(
      open.db,
    )
    await sql`insert into processing_logs (id, participant_id, knee, maneuver, format_version, content_hash)
      select ('00000000-0000-5000-8002-' || lpad(g::text, 12, '0'))::uuid, '00000000-0000-5000-8001-000000000001',
        'left', (array['walk', 'sts', 'fe'])[g + 1], 'v4', repeat('0', 64)
      from generate_series(0, 2) as g`.execute(open.db)
    await sql`insert into movement_cycles (id, processing_log_id, sync_file, cycle_index, is_outlier, cycle_file,
        source_sheet, source_row, content_hash, extra)
      select gen_random_uuid(), ('00000000-0000-5000-8002-' || lpad(((i - 1) / 2000)::text, 12, '0'))::uuid,
        'pass1', i, false, case when i <= 4000 then repeat('w', 50) || i else 'c' || i end,
        'Movement Cycles', i + 1, repeat('0', 64), '{}'::jsonb
      from generate_series(1, 6000) as i`.execute(open.db)
  })

  afterAll(async () => {
    await open?.close()
    await testDb?.drop()
    if (work) await rm(work, {recursive: true, force: true})
  })

  it('writes the same sheet XML, widths included, through COPY and through the cursor', async () => {
    const viaCopy = path.join(work, 'copy.xlsx')
    const viaCursor = path.join(work, 'cursor.xlsx')
    expect(open.copyOut).toBeDefined()
    await exportExcel({
      db: open.db,
      output: viaCopy,
      layout: 'tables',
      tables: ['movement_cycles'],
      copyOut: open.copyOut!,
    })
    await exportExcel({db: open.db, output: viaCursor, layout: 'tables', tables: ['movement_cycles']})
    const sheet = async (file: string) => {
      const zip = await JSZip.loadAsync(await readFile(file))
      const name = Object.keys(zip.files).find(
        (n) => /^xl\/worksheets\/sheet\d+\.xml$/.test(n) && n !== 'xl/worksheets/sheet1.xml',
      )!
      return zip.file(name)!.async('string')
    }
    const [copyXml, cursorXml] = await Promise.all([sheet(viaCopy), sheet(viaCursor)])
    expect(copyXml.match(/<cols>.*?<\/cols>/)![0]).toBe(cursorXml.match(/<cols>.*?<\/cols>/)![0])
    expect(copyXml).toBe(cursorXml)
    expect(copyXml.match(/<row /g)!.length).toBe(6001)
  })
})
