import v8 from 'node:v8'
import {deflateRawSync, inflateRawSync} from 'node:zlib'
import type {ParsedLog, ParsedRecord} from './parse-log.js'

/** The row records of a log: its Summary row and every list of rows, which are most of a parsed log's memory. */
const RECORD_LISTS = ['audio', 'biomechanics', 'syncs', 'summaries', 'cycles', 'maneuvers'] as const
type RecordList = (typeof RECORD_LISTS)[number]

/** Stands for a packed log's Summary row until it is unpacked; never written (toBatchedLog unpacks first). */
const PACKED_LOG: ParsedRecord = Object.freeze({values: {}, extra: {}, sheet: '(packed)', row: 0})

/**
 * A parsed log's records (its Summary row and every row list), serialised and deflated, with the few facts the run
 * needs of them before they are written. A run holds every parsed log between reading and writing (duplicate,
 * layout and study checks need them all); packed, a 10,000-log study is held in about 30 MiB instead of about
 * 550 MiB of objects (3.1 against 56.5 KiB per v4 log).
 */
export interface PackedRecords {
  bytes: Uint8Array
  /** Rows the log writes, its own included. */
  rows: number
  summaries: number
  cycles: number
  /** A knee log has a maneuver row with a consensus time (a v2+ column). */
  modernManeuvers: boolean
}

/**
 * Any structured-cloneable value as deflated bytes: v8's serialisation, so Dates, NaN, -0 and undefined survive
 * exactly, and a Uint8Array, which the garbage collector never walks and a worker thread hands over as one block.
 */
export function packValue(value: unknown): Uint8Array {
  // A copy of exactly its size: zlib's output is a view of a larger block (16 KiB or more), which the view keeps
  // alive, and which postMessage would clone whole.
  return new Uint8Array(deflateRawSync(v8.serialize(value), {level: 1}))
}

export function unpackValue<T>(bytes: Uint8Array): T {
  return v8.deserialize(inflateRawSync(bytes)) as T
}

/** Moves the records out of `parsed` (its lists are left empty, its Summary row a placeholder) into a PackedRecords. */
export function packRecords(parsed: ParsedLog): PackedRecords {
  const lists: Partial<Record<RecordList | 'log', ParsedRecord | ParsedRecord[]>> = {log: parsed.log}
  const log = parsed as unknown as Record<RecordList, ParsedRecord[] | undefined>
  let rows = 1
  for (const name of RECORD_LISTS) {
    const list = log[name]
    if (list === undefined) continue
    lists[name] = list
    rows += list.length
    log[name] = []
  }
  const maneuvers = (lists.maneuvers ?? []) as ParsedRecord[]
  parsed.log = PACKED_LOG
  return {
    bytes: packValue(lists),
    rows,
    summaries: (lists.summaries as ParsedRecord[] | undefined)?.length ?? 0,
    cycles: (lists.cycles as ParsedRecord[] | undefined)?.length ?? 0,
    modernManeuvers: hasModernManeuvers(maneuvers),
  }
}

/** A knee log's maneuver rows carry a consensus time (a column from v2 on). */
export function hasModernManeuvers(maneuvers: readonly ParsedRecord[]): boolean {
  return maneuvers.some((m) => 'consensus_time_s' in m.values && m.values.consensus_time_s !== null)
}

/** Puts the records back into the log they were packed from. */
export function unpackRecords(parsed: ParsedLog, packed: PackedRecords): void {
  Object.assign(parsed, unpackValue(packed.bytes))
}

/** Drops a written log's records (unpacked for writing) so that a long run's memory stays flat. */
export function releaseRecords(parsed: ParsedLog): void {
  const log = parsed as unknown as Record<RecordList, ParsedRecord[] | undefined>
  for (const name of RECORD_LISTS) if (log[name] !== undefined) log[name] = []
  parsed.log = PACKED_LOG
}
