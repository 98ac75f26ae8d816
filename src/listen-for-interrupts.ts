/** Exit codes after a signal, as shells report them (128 + signal number): 130 for SIGINT, 143 for SIGTERM. */
export const SIGNAL_EXIT = {SIGINT: 130, SIGTERM: 143} as const

export type InterruptSignal = keyof typeof SIGNAL_EXIT

export interface Interrupts {
  /** Aborted at the first SIGINT or SIGTERM; core code checks it between units of work. */
  signal: AbortSignal
  /** The first signal received, if any. */
  received(): InterruptSignal | null
  /** Removes the handlers, giving the signals back their default (exit at once). */
  dispose(): void
}

export interface ListenForInterruptsProps {
  /** Told at the first signal, so the command can say what happens now. */
  onFirst(signal: InterruptSignal): void
}

/**
 * The command layer's handling of SIGINT and SIGTERM while a command writes: the first asks the work to stop
 * after the unit in flight (the AbortSignal); the second exits at once, leaving the database to roll back the
 * transaction in flight. Core code never installs signal handlers: it only reads the AbortSignal.
 */
export function listenForInterrupts(props: ListenForInterruptsProps): Interrupts {
  const controller = new AbortController()
  let first: InterruptSignal | null = null
  const handle = (signal: InterruptSignal) => {
    if (first !== null) {
      process.stderr.write(`\n${signal} again: stopping at once.\n`)
      process.exit(SIGNAL_EXIT[signal])
    }
    first = signal
    controller.abort(signal)
    props.onFirst(signal)
  }
  const handlers = {SIGINT: () => handle('SIGINT'), SIGTERM: () => handle('SIGTERM')}
  process.on('SIGINT', handlers.SIGINT)
  process.on('SIGTERM', handlers.SIGTERM)
  return {
    signal: controller.signal,
    received: () => first,
    dispose() {
      process.off('SIGINT', handlers.SIGINT)
      process.off('SIGTERM', handlers.SIGTERM)
    },
  }
}
