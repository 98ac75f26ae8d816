import {readdir} from 'node:fs/promises'
import path from 'node:path'
import {type Kysely, sql} from 'kysely'
import type {Database} from '../db/schema.js'
import {AUDIO_EXTENSIONS} from '../files/probe-audio.js'
import {findKneeLogDisagreements} from '../importers/excel/write-log.js'
import type {CheckFinding} from './finding.js'
import {mapRoot, type RootMapping} from './root-map.js'

/** A stated duration may differ from the measured one by this much (seconds) or this share, whichever is larger. */
export const DURATION_TOLERANCE = {seconds: 0.5, share: 0.01}
/** A stated size (MB, read as 10^6 or 2^20 bytes) may differ by this much or this share, whichever is larger. */
export const SIZE_TOLERANCE = {mb: 0.05, share: 0.01}

export interface CheckCrossProps {
  db: Kysely<Database>
  rootMap: readonly RootMapping[]
}

/** Data that must agree with other data: knee logs with their maneuver logs, logs with files, stems with disk. */
export async function checkCross(props: CheckCrossProps): Promise<CheckFinding[]> {
  return [
    ...(await kneeLogMismatches(props.db)),
    ...(await statedVersusMeasured(props.db)),
    ...(await stemsOnDisk(props)),
  ]
}

async function kneeLogMismatches(db: Kysely<Database>): Promise<CheckFinding[]> {
  const participants = await db.selectFrom('knee_logs').select('participant_id').distinct().execute()
  const found = await findKneeLogDisagreements(
    db,
    participants.map((p) => p.participant_id),
  )
  const logs = await db.selectFrom('knee_logs').select(['id', 'participant_id', 'knee']).execute()
  return found.map((d) => ({
    check: 'cross',
    code: 'KNEE_LOG_MISMATCH',
    severity: 'error',
    table: 'knee_logs',
    id: logs.find((l) => l.participant_id === d.participantId && l.knee === d.knee)?.id ?? null,
    path: `${d.file ?? '?'} > ${d.maneuver} > ${d.column}`,
    message: `${d.file ?? 'The knee log'}: ${d.column} of ${d.knee} ${d.maneuver} says ${JSON.stringify(d.kneeLog)} but the maneuver log says ${JSON.stringify(d.maneuverLog)}. Correct whichever workbook is wrong and re-import it with aedb backfill-excel; if the workbooks are right and the database was edited, re-import them with aedb backfill-excel --force.`,
  }))
}

/** The Audio sheet's File Size (MB) and Duration (s) against the recording's .bin file as measured at import. */
async function statedVersusMeasured(db: Kysely<Database>): Promise<CheckFinding[]> {
  const {rows} = await sql<{
    id: string
    log: string | null
    audio_file: string
    stated_mb: number | null
    stated_s: number | null
    rel_path: string
    size_bytes: number | null
    duration_s: number | null
  }>`
    select a.id, lf.rel_path as log, a.audio_file, a.file_size_mb as stated_mb, a.duration_s as stated_s,
      f.rel_path, f.size_bytes, f.duration_s
    from audio_processing a
    join files lf on lf.id = a.source_file_id
    join files f on f.root_id = lf.root_id and f.present and f.kind = 'raw_audio'
      and regexp_replace(f.rel_path, '^.*/', '')
        = regexp_replace(regexp_replace(a.audio_file, '^.*[\\/]', ''), '(_with_freq)?(\\.[A-Za-z0-9]+)?$', '') || '.bin'
    where a.audio_file is not null and (a.file_size_mb is not null or a.duration_s is not null)
    order by a.id`.execute(db)
  const out: CheckFinding[] = []
  for (const r of rows) {
    const where = `${r.log ?? '?'} > Audio > ${r.audio_file}`
    if (
      r.stated_mb !== null &&
      r.stated_mb > 0 &&
      r.size_bytes !== null &&
      !sizeAgrees(r.stated_mb, r.size_bytes)
    ) {
      out.push({
        check: 'cross',
        code: 'STATED_SIZE_MISMATCH',
        severity: 'warning',
        table: 'audio_processing',
        id: r.id,
        path: r.rel_path,
        message: `${where} states ${r.stated_mb} MB but ${r.rel_path} measures ${r.size_bytes} bytes. Check which file the log describes; correct the log or the file.`,
      })
    }
    if (r.stated_s !== null && r.duration_s !== null && !durationAgrees(r.stated_s, r.duration_s)) {
      out.push({
        check: 'cross',
        code: 'STATED_DURATION_MISMATCH',
        severity: 'warning',
        table: 'audio_processing',
        id: r.id,
        path: r.rel_path,
        message: `${where} states ${r.stated_s} s but ${r.rel_path} measures ${r.duration_s} s. Check which file the log describes; correct the log or the file.`,
      })
    }
  }
  return out
}

export function sizeAgrees(statedMb: number, bytes: number): boolean {
  const allowed = Math.max(SIZE_TOLERANCE.mb, statedMb * SIZE_TOLERANCE.share)
  return [1e6, 1048576].some((unit) => Math.abs(bytes / unit - statedMb) <= allowed)
}

export function durationAgrees(stated: number, measured: number): boolean {
  return (
    Math.abs(stated - measured) <= Math.max(DURATION_TOLERANCE.seconds, measured * DURATION_TOLERANCE.share)
  )
}

/** Audio files in each recording's folder against the recording's stems. */
async function stemsOnDisk(props: CheckCrossProps): Promise<CheckFinding[]> {
  const {rows} = await sql<{
    id: string
    name: string
    root: string
    root_id: string
    folder: string
    stems: string[]
  }>`
    select r.id, p.name || '/' || r.folder_name as name, ir.path as root, mf.root_id,
      regexp_replace(mf.rel_path, '/[^/]*$', '') as folder,
      coalesce((select array_agg(sf.rel_path) from stems s join files sf on sf.id = s.file_id where s.recording_id = r.id), '{}') as stems
    from recordings r join profiles p on p.id = r.profile_id
    join files mf on mf.id = r.source_file_id join import_roots ir on ir.id = mf.root_id
    where mf.rel_path like '%/%'
    order by 2`.execute(props.db)
  const out: CheckFinding[] = []
  for (const r of rows) {
    const root = mapRoot(r.root, props.rootMap)
    let names: string[]
    try {
      names = (await readdir(path.join(root, r.folder), {withFileTypes: true}))
        .filter((e) => e.isFile() && AUDIO_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
        .map((e) => e.name)
    } catch {
      continue // A missing folder is reported by the files check (its metadata.json and stems are missing).
    }
    const recorded = new Set(r.stems)
    for (const name of names.sort()) {
      const rel = `${r.folder}/${name}`
      if (recorded.has(rel)) continue
      const known = await props.db
        .selectFrom('files')
        .select('id')
        .where('root_id', '=', r.root_id)
        .where('rel_path', '=', rel)
        .executeTakeFirst()
      out.push(
        known
          ? {
              check: 'cross',
              code: 'STEM_ROW_MISSING',
              severity: 'error',
              table: 'recordings',
              id: r.id,
              path: path.join(root, rel),
              message: `${path.join(root, rel)} was imported as a stem of ${r.name} but the recording has no stem row for it any more (deleted outside aedb). Re-import the tree with aedb import-json ${root}.`,
            }
          : {
              check: 'cross',
              code: 'STEM_NOT_IMPORTED',
              severity: 'warning',
              table: 'recordings',
              id: r.id,
              path: path.join(root, rel),
              message: `${path.join(root, rel)} is in the folder of ${r.name} but was never imported. Re-import the tree with aedb import-json ${root} to pick it up.`,
            },
      )
    }
  }
  return out
}
