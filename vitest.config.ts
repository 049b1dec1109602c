import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds the shared SGT test artifacts (.sgt-proxy/test-artifacts) once per run.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // ONNX Runtime sessions and real servers per file: two cores, keep parallelism modest.
    maxWorkers: 2,
  },
});
