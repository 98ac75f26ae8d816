import {Worker} from 'node:worker_threads'
import {type ReadAndParseOutcome, type ReadAndParseRequest, readAndParse} from './read-and-parse.js'

/**
 * The built worker (.js), or, when this module runs as TypeScript (tests, bin/dev.js under tsx), a worker that
 * registers tsx's loader first: a worker thread does not inherit the loader hooks of `--import tsx`.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./read-and-parse-worker.js', import.meta.url))
  const api = import.meta.resolve('tsx/esm/api')
  const worker = new URL('./read-and-parse-worker.ts', import.meta.url).href
  const boot = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(worker)}) })`
  return new Worker(boot, {eval: true})
}

interface Pending {
  resolve: (outcome: ReadAndParseOutcome) => void
  reject: (error: Error) => void
}

/**
 * Reads and parses workbooks on worker threads, so that several cores unzip and parse while the main thread hashes
 * and writes. With no workers it does the same work in-process. The caller bounds how many requests are in flight
 * (backfill-excel's --jobs), and so the memory; each request goes to the worker with the fewest in flight.
 */
export class ReadAndParsePool {
  private readonly workers: Array<{worker: Worker; pending: Map<number, Pending>}> = []
  private nextId = 0

  /** Threads are started on the first request, so a run that reads nothing (an unchanged re-run) starts none. */
  constructor(private readonly threads: number) {}

  private start(): void {
    for (let i = 0; i < this.threads; i++) {
      const worker = startWorker()
      const entry = {worker, pending: new Map<number, Pending>()}
      worker.on('message', (message: {id: number; outcome: ReadAndParseOutcome}) => {
        entry.pending.get(message.id)?.resolve(message.outcome)
        entry.pending.delete(message.id)
      })
      worker.on('error', (error) => {
        for (const p of entry.pending.values()) p.reject(error)
        entry.pending.clear()
      })
      this.workers.push(entry)
    }
  }

  run(request: ReadAndParseRequest): Promise<ReadAndParseOutcome> {
    if (this.threads === 0) return readAndParse(request)
    if (this.workers.length === 0) this.start()
    const entry = this.workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      entry.pending.set(id, {resolve, reject})
      entry.worker.postMessage({id, request})
    })
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()))
    this.workers.length = 0
  }
}
