import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist, startServe, type ServeProcess } from '../deploy/serve-process.js';
import { DEMO_SGT_DIR, REPO_ROOT } from '../support/artifacts.js';

/**
 * The playground in a real browser: Debian's chromium (headless) driven by puppeteer-core, against
 * the real `sgt-proxy serve` process on its embedded defaults (demo SGT, embedded reference server),
 * with SGP_API_KEY and SGP_CORS_ORIGINS set. The page runs from the proxy itself and, as a copy,
 * from a second origin on another port that the proxy allows, and a third that it does not.
 * Screenshots go to .sgt-proxy/test-output/playground/.
 */

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT_DIR = join(REPO_ROOT, '.sgt-proxy', 'test-output', 'playground');
const API_KEY = 'playground-browser-test-key';
const PROMPT = 'My name is Alice Martin and my card number is 4111 1111 1111 1111. Write me a short poem about it.';

const missing = !existsSync(CHROMIUM);
// CI installs chromium (.ci/run): there a missing browser is a failure, not a skip.
if (missing && process.env.CI !== 'true')
  console.warn(`[playground-browser] skipped: ${CHROMIUM} not found (apt-get install chromium; CI=true runs it)`);

let serve: ServeProcess | undefined;
let proxyUrl: string;
let allowed: Server | undefined;
let refused: Server | undefined;
let browser: Browser | undefined;

// The page the proxy serves, fetched once it runs; the other origins serve copies of it.
let pageHtml = '';

/**
 * Another origin serving a copy of the playground that names the proxy in its meta tag. It starts
 * before the proxy, whose SGP_CORS_ORIGINS needs its port.
 */
async function startOrigin(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url !== '/') return res.writeHead(404).end();
    const copy = pageHtml.replace('<head>', `<head>\n  <meta name="sgp-proxy-url" content="${proxyUrl}">`);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(copy);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function closeServer(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

interface PageRun {
  answer: string;
  chunks: number;
  tokens: string[];
  reading: string;
  score: string;
  problems: string[];
}

/** Opens `url`, types the key and the prompt, sends, and waits for both panels to finish. */
async function runPlayground(url: string, screenshot: string): Promise<PageRun> {
  const page: Page = await browser!.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${String(error)}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  try {
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(url, { waitUntil: 'load' });
    await page.type('#key', API_KEY);
    // The example prompt the page starts with is the one a newcomer sends.
    expect(await page.evaluate(`document.getElementById('prompt').value`)).toBe(PROMPT);
    await page.click('#send');
    // Strings, not functions: they run in the page, and this project's TypeScript has no DOM types.
    await page.waitForFunction(`document.body.dataset.state === 'done'`, { timeout: 20_000 });
    await page.screenshot({ path: join(OUTPUT_DIR, screenshot) });
    const run = (await page.evaluate(`({
      answer: document.getElementById('answer').textContent,
      chunks: Number(document.getElementById('answer').dataset.chunks),
      tokens: [...document.querySelectorAll('#tokens .tok')].map((chip) => chip.textContent),
      reading: document.getElementById('reading').textContent,
      score: document.getElementById('score').textContent,
    })`)) as Omit<PageRun, 'problems'>;
    return { ...run, problems };
  } finally {
    await page.close();
  }
}

describe.skipIf(missing && process.env.CI !== 'true')('the playground in headless Chromium', () => {
  let allowedUrl: string;
  let refusedUrl: string;

  beforeAll(async () => {
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await buildDist();
    const started = await Promise.all([startOrigin(), startOrigin()]);
    [allowed, refused] = started.map((s) => s.server);
    [allowedUrl, refusedUrl] = started.map((s) => s.url) as [string, string];
    serve = startServe({
      SGP_HOST: '127.0.0.1',
      SGP_PORT: '0',
      SGP_SGT_PATH: DEMO_SGT_DIR,
      SGP_NOISE_SECRET: 'playground-browser-test-secret',
      SGP_CACHE_DIR: mkdtempSync(join(tmpdir(), 'sgp-playground-')),
      SGP_API_KEY: API_KEY,
      SGP_CORS_ORIGINS: allowedUrl,
    });
    proxyUrl = String((await serve.waitForLine((line) => line.msg === 'sgt-proxy listening')).url);
    pageHtml = await (await fetch(`${proxyUrl}/`)).text();
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Chromium refuses to run as root with its sandbox (containers, CI); /dev/shm is small there.
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    serve?.child.kill('SIGTERM');
    await serve?.exited;
    await Promise.all([closeServer(allowed), closeServer(refused)]);
  });

  function expectPrivateRun(run: PageRun): void {
    expect(run.problems).toEqual([]);
    // The embedded reference server answers with what it read from the embeddings, token by token.
    expect(run.answer).toMatch(/^received \d+ prompt embeddings; nearest-token reading: /);
    expect(run.chunks).toBeGreaterThan(5);
    expect(run.tokens).toEqual(expect.arrayContaining(['<|im_start|>', ' card', ' poem']));
    expect(run.reading.length).toBeGreaterThan(20);
    expect(run.score).toMatch(/^The attack recovered \d+ of \d+ tokens \(obfuscation score [01]\.\d\d\)\.$/);
    // What the server could read does not contain the prompt.
    for (const secret of ['Alice', 'Martin', '4111']) {
      expect(run.reading).not.toContain(secret);
      expect(run.answer).not.toContain(secret);
    }
  }

  it('from the proxy itself: the answer streams in and the server view appears, with no console error', async () => {
    expectPrivateRun(await runPlayground(`${proxyUrl}/`, 'same-origin.png'));
  });

  /** The next access line of the proxy (not its embedded upstream's) for `method path`, logged after line `from`. */
  function accessLine(from: number, method: string, path: string): Promise<Record<string, unknown>> {
    return serve!.waitForLine(
      (line) =>
        serve!.lines.indexOf(line) >= from && line.msg === 'request' && line.method === method && line.path === path,
    );
  }

  it('from another origin listed in SGP_CORS_ORIGINS: the same, through CORS with the API key', async () => {
    expect(new URL(allowedUrl).origin).not.toBe(new URL(proxyUrl).origin);
    const from = serve!.lines.length;
    expectPrivateRun(await runPlayground(`${allowedUrl}/`, 'cross-origin.png'));
    for (const path of ['/v1/chat/completions', '/v1/stainedglass']) {
      expect(await accessLine(from, 'OPTIONS', path)).toMatchObject({ status: 204 });
      expect(await accessLine(from, 'POST', path)).toMatchObject({ status: 200 });
    }
  });

  it('from an origin not in the list: the browser stops at the preflight, nothing is posted', async () => {
    const from = serve!.lines.length;
    const run = await runPlayground(`${refusedUrl}/`, 'refused-origin.png');
    expect(run.answer).toMatch(/Failed to fetch/);
    expect(run.problems.some((p) => /blocked by CORS policy/.test(p))).toBe(true);
    await accessLine(from, 'OPTIONS', '/v1/stainedglass');
    await accessLine(from, 'OPTIONS', '/v1/chat/completions');
    const posted = serve!.lines.slice(from).filter((line) => line.msg === 'request' && line.method === 'POST');
    expect(posted.filter((line) => String(line.path).startsWith('/v1/'))).toEqual([]);
  });
});
