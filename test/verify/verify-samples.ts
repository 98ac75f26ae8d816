import {cp, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import type {OpenDatabase} from '../../src/db/connection.js'
import {backfillExcel} from '../../src/importers/excel/backfill-excel.js'
import {importJson} from '../../src/importers/json/import-json.js'
import {type CheckFinding, findingKey} from '../../src/verify/finding.js'
import {type VerifyProps, type VerifyResult, verify} from '../../src/verify/verify.js'
import {type BackendName, createTestDatabase, type TestDatabase} from '../support/backends.js'
import {kneeSampleDir} from '../support/knee-samples.js'
import {V4} from '../support/knee-trees.js'
import {PROJECT_ROOT} from '../support/run-cli.js'

/** A database holding the v4 knee sample and the stemset sample, imported from copies in a temp folder. */
export interface ImportedSamples {
  database: TestDatabase
  opened: OpenDatabase
  /** Temp folder holding knee/ (the v4 tree) and stemset/ (the media tree). */
  root: string
  knee: string
  stemset: string
  close(): Promise<void>
}

export async function importSamples(backend: BackendName): Promise<ImportedSamples> {
  const database = await createTestDatabase(backend)
  const root = await mkdtemp(path.join(tmpdir(), 'aedb-verify-'))
  const knee = path.join(root, 'knee')
  const stemset = path.join(root, 'stemset')
  await cp(kneeSampleDir(V4), knee, {recursive: true})
  await cp(path.join(PROJECT_ROOT, 'fixtures', 'stemset'), stemset, {recursive: true})
  const opened = await database.open()
  const excel = await backfillExcel({db: opened.db, paths: [knee], version: 'test', jobs: 2})
  if (excel.rejected.length > 0) throw new Error(`sample rejected: ${JSON.stringify(excel.rejected)}`)
  const json = await importJson({db: opened.db, paths: [stemset], version: 'test', jobs: 2})
  if (json.rejected.length > 0) throw new Error(`sample rejected: ${JSON.stringify(json.rejected)}`)
  return {
    database,
    opened,
    root,
    knee,
    stemset,
    close: async () => {
      await opened.close()
      await database.drop()
      await rm(root, {recursive: true, force: true})
    },
  }
}

export function runVerify(samples: ImportedSamples, props: Partial<VerifyProps> = {}): Promise<VerifyResult> {
  return verify({db: samples.opened.db, argv: ['verify'], version: 'test', jobs: 2, ...props})
}

/** What the command exits with for this result (the command sets 3 exactly when ok is false). */
export function exitCodeOf(result: VerifyResult): number {
  return result.ok ? 0 : 3
}

export function brief(f: CheckFinding): {check: string; code: string; severity: string} {
  return {check: f.check, code: f.code, severity: f.severity}
}

export function keyOf(f: CheckFinding): string {
  return findingKey(f)
}
