export interface ProgressLine {
  update(text: string): void
  /** Prints a whole line on stderr (a warning) without garbling the progress line. */
  interrupt(line: string): void
  done(): void
}

/** One self-overwriting status line on stderr, only when stderr is a terminal (never in pipes, cron or --json). */
export function createProgressLine(options: {enabled: boolean; stream?: NodeJS.WriteStream}): ProgressLine {
  const stream = options.stream ?? process.stderr
  const active = options.enabled && stream.isTTY === true
  let last = 0
  let shown = false
  return {
    update(text) {
      if (!active) return
      const now = Date.now()
      if (now - last < 100) return
      last = now
      shown = true
      stream.write(`\r\x1b[2K${text.slice(0, (stream.columns ?? 100) - 1)}`)
    },
    interrupt(line) {
      stream.write(`${active && shown ? '\r\x1b[2K' : ''}${line}\n`)
    },
    done() {
      if (active && shown) stream.write('\r\x1b[2K')
    },
  }
}
