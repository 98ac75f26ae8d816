import {setImmediate as nextTurn} from 'node:timers/promises'

/**
 * Statements of one transaction sent back to back: each is started as soon as the one before it is on its way rather
 * than done, so that the client builds a statement (its array literals) while the server runs the one before. On one
 * connection they still run one after the other, in the order they were sent. A caller sends every statement of a
 * step, then awaits their results; `finish` reports the first failure in statement order (statements after a failure
 * would fail only because the transaction is aborted, so none is started after one).
 */
export class StatementQueue {
  private readonly started: Array<Promise<unknown>> = []
  private failing = false

  /**
   * Starts `statement` once the one sent last is on its way; resolves to its result's promise, to await later (in an
   * object, since a promise resolved with a promise would wait for it).
   */
  async send<T>(statement: () => Promise<T>): Promise<Sent<T>> {
    // One turn of the event loop lets the statement started last reach the connection before this one is built.
    if (this.started.length > 0) await nextTurn()
    const result = this.failing ? Promise.reject(new StatementQueueStopped()) : startOne(statement)
    this.started.push(result)
    return {
      result: quiet(result, () => {
        this.failing = true
      }),
    }
  }

  /**
   * Runs `fn` with this queue and waits for every statement it sent even when it throws: the transaction must not be
   * ended (Kysely's rollback goes to the connection directly) while statements wait their turn, or they would run
   * after it, outside any transaction.
   */
  async around<T>(fn: (queue: StatementQueue) => Promise<T>): Promise<T> {
    try {
      return await fn(this)
    } catch (error) {
      await Promise.allSettled(this.started)
      throw error
    }
  }

  /** Waits for every statement sent; throws the first failure in statement order. */
  async finish(): Promise<void> {
    const settled = await Promise.allSettled(this.started)
    const failed = settled.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
  }
}

/** A statement on its way: its result, once the server has run it. */
export interface Sent<T> {
  result: Promise<T>
}

/** Not sent: a statement before it failed, and finish() throws that failure. */
class StatementQueueStopped extends Error {}

/**
 * `promise`, marked handled: a failure while later statements are being built surfaces through finish() or the
 * caller's await, not as an unhandled rejection.
 */
export function quiet<T>(promise: Promise<T>, onFailure: () => void = () => {}): Promise<T> {
  promise.catch(onFailure)
  return promise
}

function startOne<T>(statement: () => Promise<T>): Promise<T> {
  try {
    return statement()
  } catch (error) {
    return Promise.reject(error)
  }
}
