import { defineConfig } from 'vitest/config';

// The end-to-end demo test runs seven processes and a browser under injected faults and
// measures availability: it runs alone, after everything else, so neither it nor the suites
// with their own timing (process chaos, crash tests) share the machine's cores with the other.
const ALONE = ['test/demo/system.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'suites',
          include: ['test/**/*.test.ts'],
          exclude: ALONE,
          // Integration suites start real servers and processes; two cores, so keep it modest.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'end-to-end',
          include: ALONE,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
