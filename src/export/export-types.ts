import type {StudyName} from '../importers/excel/parse-log.js'

/** Which rows an export covers; empty lists mean everything. */
export interface ExportFilter {
  studies: StudyName[]
  participants: number[]
  profiles: string[]
}

export interface ExportProgress {
  done: number
  total: number
  rows: number
  current: string
}

/** Data rows written per sheet name (summed over files in the legacy layout). */
export type SheetCounts = Record<string, number>
