/** Samples of a timed run and their medians. */
import os from 'node:os'
import {psql, type ServerOptions} from './postgres.js'
import {processCpu, type Ran} from './processes.js'

export interface Sample {
  seconds: number
  /** CPU of the aedb (or psql) client process. */
  clientCpu: number
  /** CPU of the PostgreSQL server (postmaster and its backends), when it is local. */
  serverCpu: number | null
  /** 1-minute load average when the run started (other work on the machine shows here). */
  load: number
  /** Peak RSS of the client process (MB), when /usr/bin/time could tell. */
  peakRssMb: number | null
}

export interface Measurement {
  samples: Sample[]
  median: number
  min: number
  max: number
  clientCpu: number
  serverCpu: number | null
  load: number
  /** The largest peak RSS of the samples. */
  peakRssMb: number | null
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function summarise(samples: Sample[]): Measurement {
  const seconds = samples.map((s) => s.seconds)
  const server = samples.map((s) => s.serverCpu).filter((v): v is number => v !== null)
  return {
    samples,
    median: median(seconds),
    min: Math.min(...seconds),
    max: Math.max(...seconds),
    clientCpu: median(samples.map((s) => s.clientCpu)),
    serverCpu: server.length === samples.length ? median(server) : null,
    load: median(samples.map((s) => s.load)),
    peakRssMb: peakOf(samples),
  }
}

function peakOf(samples: readonly Sample[]): number | null {
  const known = samples.map((s) => s.peakRssMb).filter((v): v is number => v !== null)
  return known.length > 0 ? Math.max(...known) : null
}

/**
 * Times `fn`. On a local server a CHECKPOINT first, so that no run pays for the previous run's dirty buffers, and
 * the server's CPU is read from the postmaster before and after.
 */
export async function timed(
  opts: ServerOptions,
  postmaster: number | null,
  fn: () => Promise<Ran>,
): Promise<Sample> {
  if (postmaster) await psql(opts, 'postgres', ['-c', 'checkpoint'])
  const load = os.loadavg()[0]!
  const before = postmaster ? await processCpu(postmaster, true) : null
  const ran = await fn()
  // Backends are reaped by the postmaster shortly after the client disconnects.
  if (postmaster) await new Promise((resolve) => setTimeout(resolve, 200))
  const after = postmaster ? await processCpu(postmaster, true) : null
  return {
    seconds: ran.seconds,
    clientCpu: ran.cpuSeconds,
    serverCpu: before !== null && after !== null ? after - before : null,
    load,
    peakRssMb: ran.peakRssMb,
  }
}
