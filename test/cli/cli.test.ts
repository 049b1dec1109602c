import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';

function captureOutput(): { stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (err.push(String(chunk)), true));
  return { stdout: () => out.join(''), stderr: () => err.join('') };
}

afterEach(() => vi.restoreAllMocks());

describe('sgt-proxy CLI', () => {
  it('--help lists the commands', async () => {
    const output = captureOutput();
    expect(await runCli(['--help'], {})).toBe(0);
    expect(output.stdout()).toMatch(/serve/);
    expect(output.stdout()).toMatch(/reference-server/);
    expect(output.stdout()).toMatch(/sgt build-demo --out DIR/);
  });

  it('a bad variable stops serve with one line naming it', async () => {
    const output = captureOutput();
    expect(await runCli(['serve'], { SGP_PORT: 'http' })).toBe(2);
    expect(output.stderr()).toMatch(/^sgt-proxy: invalid configuration: SGP_PORT: .+\n$/);
  });

  it('a bad SGT path stops serve with a message naming the file', async () => {
    const output = captureOutput();
    const empty = mkdtempSync(join(tmpdir(), 'sgp-empty-'));
    expect(await runCli(['serve'], { SGP_SGT_PATH: empty, SGP_PORT: '0', SGP_HOST: '127.0.0.1', SGP_INFERENCE_SERVICE_HOST: 'http://127.0.0.1:1', SGP_LOGGING_CONFIG_FILE: undefined })).toBe(2);
    expect(output.stderr()).toMatch(/sgt\.json/);
  });

  it('unknown commands and options are usage errors', async () => {
    const output = captureOutput();
    expect(await runCli(['frobnicate'], {})).toBe(2);
    expect(await runCli(['sgt', 'build-demo', '--out', '/tmp/x', '--bogus'], {})).toBe(2);
    expect(await runCli(['sgt', 'build-demo'], {})).toBe(2);
    expect(await runCli(['sgt', 'build-demo', '--out', '/tmp/x', '--hidden', 'big'], {})).toBe(2);
    expect(output.stderr()).toMatch(/unknown command/);
    expect(output.stderr()).toMatch(/--out/);
    expect(output.stderr()).toMatch(/--hidden expects an integer/);
  });
});
