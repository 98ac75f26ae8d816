import type {Kysely} from 'kysely'
import {type MigrationStatus, migrationFile} from '../db/migrator.js'
import type {Database} from '../db/schema.js'
import {
  diffFingerprints,
  readRecordedFingerprint,
  readSchemaFingerprint,
  recordSchemaFingerprint,
} from '../db/schema-fingerprint.js'
import type {CheckFinding} from './finding.js'

const MIGRATION_CODES = {
  edited: 'MIGRATION_EDITED',
  missing: 'MIGRATION_MISSING',
  'out-of-order': 'MIGRATION_OUT_OF_ORDER',
} as const

const MIGRATION_FIX = {
  edited:
    'Restore the original file (`git checkout migrations/` in a clone of aedb; reinstall the aedb package otherwise) or run the aedb version that applied it.',
  missing: 'Run the aedb version that applied it, or restore the migration file.',
  'out-of-order': 'Run `aedb migrate status`; an older migration arrived after newer ones were applied.',
} as const

/**
 * Migration checksums (the same status `aedb migrate status` shows) and the live catalog against the fingerprint
 * recorded when migrations were last applied. A database migrated before fingerprints existed gets its first
 * fingerprint now (the baseline), so drift is found from then on.
 */
export async function checkSchema(db: Kysely<Database>, status: MigrationStatus): Promise<CheckFinding[]> {
  const findings: CheckFinding[] = status.problems.map((p) => ({
    check: 'schema',
    code: MIGRATION_CODES[p.kind],
    severity: 'error',
    table: 'aedb_migrations',
    id: p.name,
    path: migrationFile(p.name),
    message: `${p.message} ${MIGRATION_FIX[p.kind]}`,
  }))
  const recorded = await readRecordedFingerprint(db)
  if (!recorded) {
    await recordSchemaFingerprint(db, status.applied.at(-1)?.name ?? null)
    return findings
  }
  const live = await readSchemaFingerprint(db)
  if (live.sha256 === recorded.sha256) return findings
  for (const drift of diffFingerprints(recorded, live)) {
    findings.push({
      check: 'schema',
      code: 'SCHEMA_DRIFT',
      severity: 'error',
      table: null,
      id: drift.object,
      path: null,
      message: `${drift.object} ${drift.change === 'changed' ? `changed (was: ${drift.recorded}; now: ${drift.live})` : drift.change} since migrations were last applied, by hand outside aedb. Undo the change, or put it in a migration so every database gets it.`,
    })
  }
  return findings
}
