/**
 * CPU of reading the 1,000-log v4 corpus with exceljs's in-memory reader and with aedb's own xlsx reader, one
 * workbook after another on one thread (the read step of a backfill's parse threads), and whether both gave the
 * same workbooks. `node --import tsx bench/read-workbooks.bench.ts [--count N] [--reader exceljs|aedb|both]`
 */
import {execFileSync} from 'node:child_process'
import {isDeepStrictEqual, parseArgs} from 'node:util'
import {readWorkbook} from '../src/importers/excel/read-workbook.js'
import {readWorkbookWithExceljs} from '../src/importers/excel/read-workbook-exceljs.js'
import {generateCorpus} from './generate-corpus.js'

const {values} = parseArgs({
  options: {count: {type: 'string', default: '1000'}, reader: {type: 'string', default: 'both'}},
})
const corpus = await generateCorpus({count: Number(values.count)})
const files = execFileSync('find', [corpus.dir, '-name', '*.xlsx'], {encoding: 'utf8'})
  .split('\n')
  .filter(Boolean)
  .sort()

async function timeReader(name: string, read: (file: string) => Promise<unknown>): Promise<unknown[]> {
  await read(files[0]!) // loads the reader's modules outside the measurement
  const start = process.cpuUsage()
  const wall = performance.now()
  const workbooks: unknown[] = []
  for (const file of files) workbooks.push(await read(file))
  const cpu = process.cpuUsage(start)
  console.log(
    `${name.padEnd(8)} ${files.length} workbooks: ${((performance.now() - wall) / 1000).toFixed(2)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU`,
  )
  return workbooks
}

const exceljs = values.reader === 'aedb' ? null : await timeReader('exceljs', readWorkbookWithExceljs)
const aedb = values.reader === 'exceljs' ? null : await timeReader('aedb', readWorkbook)
if (exceljs && aedb) console.log(`same workbooks: ${isDeepStrictEqual(exceljs, aedb)}`)
