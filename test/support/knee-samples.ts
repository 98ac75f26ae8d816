import {readFileSync} from 'node:fs'
import path from 'node:path'
import {PROJECT_ROOT} from './run-cli.js'

export const KNEE_SAMPLE_VERSIONS = [
  'v1-2025-12-28',
  'v2-2026-01-17',
  'v3-2026-01-19',
  'v4-2026-01-29',
] as const
export type KneeSampleVersion = (typeof KNEE_SAMPLE_VERSIONS)[number]

export interface ManifestSync {
  sync_file: string
  speed: string | null
  pass_number: number | null
  status: string
  clean_cycles: number
  outlier_cycles: number
}

export interface ManifestManeuverFile {
  path: string
  kind: 'maneuver'
  study: string
  study_id: string
  knee: 'Left' | 'Right'
  maneuver: 'walk' | 'sit_to_stand' | 'flexion_extension'
  audio_file: string | null
  audio_status: string | null
  biomechanics_present: boolean
  num_sync_records: number
  num_cycle_summary_records: number
  total_cycles: number
  syncs: ManifestSync[]
  placeholder_note_sheets: string[]
}

export interface ManifestKneeFile {
  path: string
  kind: 'knee'
  study: string
  study_id: string
  knee: 'Left' | 'Right'
  maneuvers: string[]
}

export interface KneeManifest {
  label: string
  files: Array<ManifestManeuverFile | ManifestKneeFile>
}

export function kneeSampleDir(version: KneeSampleVersion): string {
  return path.join(PROJECT_ROOT, 'fixtures', 'knee-ae', version)
}

export function readKneeManifest(version: KneeSampleVersion): KneeManifest {
  return JSON.parse(readFileSync(path.join(kneeSampleDir(version), 'manifest.json'), 'utf8')) as KneeManifest
}

/** Participant folders of a sample tree grouped by the study the manifest says they belong to. */
export function participantFoldersByStudy(version: KneeSampleVersion): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const file of readKneeManifest(version).files) {
    const folder = path.join(kneeSampleDir(version), file.path.split('/')[0]!)
    const list = out.get(file.study) ?? []
    if (!list.includes(folder)) list.push(folder)
    out.set(file.study, list)
  }
  return out
}
