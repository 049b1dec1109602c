import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';

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
    expect(
      await runCli(['serve'], {
        SGP_SGT_PATH: empty,
        SGP_PORT: '0',
        SGP_HOST: '127.0.0.1',
        SGP_INFERENCE_SERVICE_HOST: 'http://127.0.0.1:1',
        SGP_LOGGING_CONFIG_FILE: undefined,
      }),
    ).toBe(2);
    expect(output.stderr()).toMatch(/sgt\.json/);
  });

  it('reference-server: scripted mode and --replies go together; a bad replies file is one line, exit 2', async () => {
    const output = captureOutput();
    const dir = mkdtempSync(join(tmpdir(), 'sgp-replies-cli-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"replies": [{"txt": "typo"}]}');
    expect(await runCli(['reference-server', '--mode', 'scripted'], {})).toBe(2);
    expect(await runCli(['reference-server', '--replies', bad], {})).toBe(2);
    expect(await runCli(['reference-server', '--mode', 'scripted', '--replies', bad], {})).toBe(2);
    expect(await runCli(['reference-server', '--mode', 'scripted', '--replies', join(dir, 'none.json')], {})).toBe(2);
    expect(await runCli(['reference-server', '--mode', 'loud'], {})).toBe(2);
    const lines = output.stderr().trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/--mode scripted needs --replies FILE/);
    expect(lines[2]).toMatch(/not a replies file.*txt/);
    expect(lines[3]).toMatch(/cannot read the replies file/);
    expect(lines[4]).toMatch(/--mode expects echo, paced or scripted/);
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

  it('sgt audit: a missing artifact, an unreadable or malformed prompts file, bad options → one line, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sgp-audit-cli-'));
    writeFileSync(join(dir, 'bad.json'), '[{"id": "a"}]');
    const cases: [string[], RegExp][] = [
      [['--sgt', join(dir, 'nope')], /nope: SGT artifact directory does not exist/],
      [
        ['--sgt', DEMO_SGT_DIR, '--prompts', join(dir, 'missing.json')],
        /cannot read the prompts file .*missing\.json: ENOENT/,
      ],
      [['--sgt', DEMO_SGT_DIR, '--prompts', join(dir, 'bad.json')], /the prompts file .*bad\.json: 0\.messages: /],
      [['--sgt', DEMO_SGT_DIR, '--modes', 'noisy'], /--modes: "noisy" is not valid/],
      [['--sgt', DEMO_SGT_DIR, '--repeats', '1,x'], /--repeats: "x" is not valid/],
      [['--sgt', DEMO_SGT_DIR, '--bogus'], /bogus/],
    ];
    for (const [args, message] of cases) {
      const output = captureOutput();
      expect(await runCli(['sgt', 'audit', ...args], {}), args.join(' ')).toBe(2);
      expect(output.stderr()).toMatch(new RegExp(`^sgt-proxy: .*${message.source}.*\n$`));
      vi.restoreAllMocks();
    }
  });

  it('sgt audit --json: progress on stderr, the report on stdout, every attack per mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sgp-audit-cli-'));
    const prompts = [
      {
        id: 'a',
        messages: [{ role: 'user', content: 'Call Maria at 555-0142 about invoice 7781.' }],
        secrets: ['Maria'],
      },
      {
        id: 'b',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Write to bob@example.com today.' },
        ],
      },
    ];
    writeFileSync(join(dir, 'prompts.json'), JSON.stringify(prompts));
    const output = captureOutput();
    const args = [
      'sgt',
      'audit',
      '--sgt',
      DEMO_SGT_DIR,
      '--prompts',
      join(dir, 'prompts.json'),
      '--json',
      '--repeats',
      '1,2',
      '--regression-tokens',
      '500',
    ];
    expect(await runCli(args, {})).toBe(0);
    expect(output.stderr()).toMatch(/audit: prefix noise: nearest neighbour \(2 prompts\)/);
    const report = JSON.parse(output.stdout()) as {
      prompts: number;
      secrets: number;
      attacks: { attack: string; noise: string; repeats?: number }[];
      linkability: unknown[];
    };
    expect(report.prompts).toBe(2);
    expect(report.secrets).toBe(4); // Maria, 555-0142, 7781, bob@example.com
    const rows = report.attacks.map((a) => `${a.attack}/${a.noise}${a.repeats === undefined ? '' : `/${a.repeats}`}`);
    for (const mode of ['prefix', 'fresh']) {
      expect(rows).toEqual(
        expect.arrayContaining([
          `nearest/${mode}`,
          `averaging/${mode}/1`,
          `averaging/${mode}/2`,
          `regression/${mode}`,
          `noise-stream/${mode}`,
        ]),
      );
    }
    expect(rows).toContain('noise-stream/linear-reference');
    expect(report.linkability).toHaveLength(2);
  });
});
