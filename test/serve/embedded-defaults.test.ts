import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '../../src/config/index.js';
import { createLogger } from '../../src/logging/index.js';
import { startProxyServer, type ProxyServer } from '../../src/serve/index.js';

/** `npm start` with no configuration: demo SGT built on first run, reference server in-process. */
describe('serve on embedded defaults', () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'sgp-cache-'));
  const logLines: Record<string, unknown>[] = [];
  let server: ProxyServer;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logLines.push(
          ...String(chunk)
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l)),
        );
        cb();
      },
    });
    const env = parseEnv({ SGP_HOST: '127.0.0.1', SGP_PORT: '0', SGP_CACHE_DIR: cacheDir });
    server = await startProxyServer(
      env,
      createLogger({ level: 'info', modules: {}, destination: 'stdout', redact: [] }, sink),
    );
  }, 120_000);

  afterAll(() => server?.close());

  it('logs that it runs on the demo SGT and the embedded reference server', () => {
    const messages = logLines.map((l) => String(l.msg));
    expect(messages.some((m) => m.includes('demo SGT'))).toBe(true);
    expect(messages.some((m) => m.includes('embedded reference server'))).toBe(true);
    expect(server.upstreamUrls).toEqual([expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/)]);
  });

  it('keeps a generated noise secret readable by its owner only, and warns that replicas would not share it', () => {
    const file = join(cacheDir, 'noise-secret');
    const secret = readFileSync(file, 'utf8').trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(file).mode & 0o077).toBe(0);
    const warning = logLines.find((l) => l.level === 40 && String(l.msg).includes('SGP_NOISE_SECRET is unset'));
    expect(warning?.msg).toMatch(/replicas .* must share one SGP_NOISE_SECRET/);
    expect(warning).toMatchObject({ noise_mode: 'prefix', noise_secret_file: file });
    expect(JSON.stringify(logLines)).not.toContain(secret);
  });

  it('answers a chat completion end to end, and a prompt never reaches a log line', async () => {
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-should-not-be-logged' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'LOGCANARY hello' }], stream: true }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('received');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const logs = JSON.stringify(logLines);
    expect(logs).not.toContain('LOGCANARY');
    expect(logs).not.toContain('sk-should-not-be-logged');
    expect(logLines.some((l) => l.msg === 'request' && l.path === '/v1/chat/completions' && l.status === 200)).toBe(
      true,
    );
  });
});
