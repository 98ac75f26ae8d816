/** Where the time of a `node --cpu-prof` run went: self time by category, package and function. */

export interface ProfileNode {
  id: number
  callFrame: {functionName: string; url: string; lineNumber: number}
  children?: number[]
}

export interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export interface Ranked {
  name: string
  seconds: number
  share: number
}

export interface ProfileSummary {
  backend: 'postgres' | 'pglite'
  wallSeconds: number
  file: string
  /** Sampled seconds (wall time of the main thread, idle included). */
  seconds: number
  categories: Ranked[]
  modules: Ranked[]
  functions: Ranked[]
}

export function where(url: string): string {
  if (url === '') return '(native/vm)'
  if (url.startsWith('wasm://')) return 'wasm'
  if (url.startsWith('node:')) return 'node internals'
  const modules = url.lastIndexOf('/node_modules/')
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  const dist = url.indexOf('/dist/')
  return dist >= 0
    ? `aedb ${url.slice(dist + '/dist/'.length).replace(/\.js$/, '.ts')}`
    : url.replace(/^file:\/\//, '')
}

export const XLSX_PACKAGES = new Set([
  'exceljs',
  'jszip',
  'pako',
  'saxes',
  'sax',
  'unzipper',
  'fast-csv',
  'dayjs',
  'archiver',
])
export const DB_CLIENT_PACKAGES = new Set([
  'pg',
  'pg-protocol',
  'pg-pool',
  'pg-types',
  'postgres-array',
  'kysely',
])

/** A coarse "where the time goes" bucket for a frame. */
export function category(module: string, functionName: string): string {
  if (module === '(native/vm)') {
    if (functionName === '(idle)') return 'idle (waiting for the database server, I/O)'
    if (functionName === '(garbage collector)') return 'garbage collection'
    if (functionName === 'writev' || functionName === 'writeUtf8String' || functionName === 'writeBuffer')
      return 'database client (pg, kysely, socket writes)'
    return 'other native (stat, JSON, crypto, start-up)'
  }
  if (XLSX_PACKAGES.has(module)) return 'reading .xlsx (exceljs, jszip, pako, saxes)'
  if (DB_CLIENT_PACKAGES.has(module)) return 'database client (pg, kysely, socket writes)'
  if (module === '@electric-sql/pglite' || module === 'wasm') return 'PGlite (Postgres in WASM, in-process)'
  if (module.startsWith('aedb ')) return 'aedb code (parse, map, hash ids, build queries)'
  if (module === 'node internals') return 'node internals (streams, fs, module loading)'
  return 'other packages (oclif, fast-glob, ...)'
}

/** Self time by category, by package/module and by function of a .cpuprofile. */
export function summariseProfile(profile: CpuProfile, top = 15) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (const [i, id] of profile.samples.entries()) {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const functions = new Map<string, number>()
  const modules = new Map<string, number>()
  const categories = new Map<string, number>()
  const add = (map: Map<string, number>, key: string, micros: number) =>
    map.set(key, (map.get(key) ?? 0) + micros)
  for (const [id, micros] of self) {
    const frame = byId.get(id)!.callFrame
    const module = where(frame.url)
    add(
      functions,
      `${frame.functionName || '(anonymous)'} ${module}${frame.url ? `:${frame.lineNumber + 1}` : ''}`,
      micros,
    )
    add(modules, frame.url ? module : frame.functionName || '(native/vm)', micros)
    add(categories, category(module, frame.functionName), micros)
  }
  const rank = (map: Map<string, number>, n: number): Ranked[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, micros]) => ({name, seconds: micros / 1e6, share: micros / total}))
  return {
    seconds: total / 1e6,
    categories: rank(categories, 20),
    modules: rank(modules, top),
    functions: rank(functions, top),
  }
}
