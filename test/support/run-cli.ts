import {spawn} from 'node:child_process'
import {createRequire} from 'node:module'
import {constants} from 'node:os'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** tsx by absolute URL: `--import tsx` would be resolved from the child's working directory, which may be a temp dir. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface RunCliOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Kill the process with SIGKILL after this many ms (crash tests). */
  killAfterMs?: number
  /** Polled every 25 ms while the process runs; SIGKILL as soon as it resolves true (crash tests). */
  killWhen?: (child: RunningCli) => Promise<boolean> | boolean
  /** The signal killAfterMs and killWhen send (default SIGKILL), e.g. SIGINT to test an interrupted import. */
  killSignal?: NodeJS.Signals
  /** Send the signal once more this many ms after the first (a second Ctrl-C). */
  repeatSignalAfterMs?: number
  /** Run this script with plain node instead of bin/dev.js under tsx (the built CLI's bin/run.js). */
  script?: string
  /** Run the child as this user and group (root only): to meet permission errors root itself never gets. */
  uid?: number
  gid?: number
}

/** The child as killWhen sees it. */
export interface RunningCli {
  pid: number
  stdout: string
  stderr: string
}

/**
 * Runs the real CLI (bin/dev.js, TypeScript through tsx) in a child process, exactly as a user would, with
 * a clean environment so a developer's DATABASE_URL never leaks into a test.
 */
export function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    NODE_OPTIONS: '',
    TZ: process.env.TZ,
    ...options.env,
  }
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key]
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      options.script
        ? [options.script, ...args]
        : ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'bin', 'dev.js'), ...args],
      {
        cwd: options.cwd ?? PROJECT_ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(options.uid === undefined ? {} : {uid: options.uid}),
        ...(options.gid === undefined ? {} : {gid: options.gid}),
      },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    const signal = options.killSignal ?? 'SIGKILL'
    const kill = () => {
      child.kill(signal)
      if (options.repeatSignalAfterMs !== undefined) {
        setTimeout(() => child.kill(signal), options.repeatSignalAfterMs)
      }
    }
    const timer = options.killAfterMs ? setTimeout(kill, options.killAfterMs) : undefined
    let polling = options.killWhen !== undefined
    const poll = async () => {
      while (polling) {
        if (await Promise.resolve(options.killWhen!({pid: child.pid!, stdout, stderr})).catch(() => false)) {
          kill()
          return
        }
        await new Promise((r) => setTimeout(r, 25))
      }
    }
    void poll()
    child.on('error', reject)
    child.on('close', (code, signal) => {
      polling = false
      if (timer) clearTimeout(timer)
      // Killed by a signal it did not handle: the shell's 128 + signal number (137 for SIGKILL).
      resolve({exitCode: code ?? (signal ? 128 + constants.signals[signal] : 1), stdout, stderr})
    })
  })
}
