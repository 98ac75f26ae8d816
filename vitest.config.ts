import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/closing-line-reporter.ts'],
    // oclif writes through console; without this, captured stdout of in-process commands comes back empty.
    disableConsoleIntercept: true,
    // Generous: CLI tests spawn real processes and import real trees; a loaded 2-core machine slows them several-fold.
    testTimeout: 600_000,
    hookTimeout: 900_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
})
