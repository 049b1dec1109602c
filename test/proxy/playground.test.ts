import { createHash } from 'node:crypto';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSseParser } from '../../src/proxy/playground/sse-parser.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';

/** The page as served (the browser test in test/e2e/playground-browser.test.ts runs it). */

let sgt: Sgt;
let open: ProxyUnderTest;
let keyed: ProxyUnderTest;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  open = await startProxy({ sgt, upstreamUrl: 'http://127.0.0.1:9' });
  keyed = await startProxy({ sgt, upstreamUrl: 'http://127.0.0.1:9', settings: { apiKey: 'page-test-key' } });
});

afterAll(async () => {
  await open?.close();
  await keyed?.close();
  await sgt?.close();
});

function inlineBlocks(html: string, tag: 'script' | 'style'): string[] {
  return [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]!);
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

describe('GET /', () => {
  it('serves one self-contained HTML page under a CSP that allows only its own script and style', async () => {
    const response = await fetch(`${open.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8$/i);
    const html = await response.text();
    const csp = response.headers.get('content-security-policy')!;
    const [script] = inlineBlocks(html, 'script');
    const [style] = inlineBlocks(html, 'style');
    expect(csp).toContain(`script-src ${sha256(script!)}`);
    expect(csp).toContain(`style-src ${sha256(style!)}`);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/connect-src 'self'/);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+rel="stylesheet"/);
    // Nothing outside the proxy: every address in the page is a path of its own or an empty data: icon.
    for (const [, address] of html.matchAll(/(?:src|href)="([^"]*)"/g)) expect(address).toMatch(/^(\/[a-z.]+|data:,)$/);
    expect(html).not.toMatch(/https?:\/\//);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('asks for the API key only when SGP_API_KEY is set, and never contains it', async () => {
    const without = await (await fetch(`${open.url}/`)).text();
    expect(without).not.toContain('id="key"');
    const response = await fetch(`${keyed.url}/`); // no Authorization: the page itself is public
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('id="key"');
    expect(html).not.toContain('page-test-key');
  });

  it('embeds the SSE parser it is tested with below', async () => {
    const [script] = inlineBlocks(await (await fetch(`${open.url}/`)).text(), 'script');
    expect(script).toContain(`const createSseParser = ${createSseParser.toString()};`);
  });
});

const STREAM =
  ': keep-alive\n\n' +
  'data: {"a":1}\n\n' +
  'data:no-space\r\n\r\n' +
  'data: line one\rdata: line two\r\r' +
  'event: ignored\nid: 7\nretry: 10\ndata\n\n' +
  'data: ünïcødé ✓ 😀\r\n\r\n' +
  'data: a: b\n\n' +
  'data: [DONE]\n\n' +
  'data: unfinished';
const EVENTS = ['{"a":1}', 'no-space', 'line one\nline two', '', 'ünïcødé ✓ 😀', 'a: b', '[DONE]'];

function parseInPieces(pieces: string[], parserFactory = createSseParser): string[] {
  const events: string[] = [];
  const parser = parserFactory((data) => events.push(data));
  for (const piece of pieces) parser.push(piece);
  return events;
}

describe('createSseParser (the page runs the same function)', () => {
  it('reads every event of a stream given whole', () => {
    expect(parseInPieces([STREAM])).toEqual(EVENTS);
  });

  it('gives the same events for a stream split at every point, \\r\\n halves included', () => {
    for (let at = 0; at <= STREAM.length; at++)
      expect(parseInPieces([STREAM.slice(0, at), STREAM.slice(at)]), `split at ${at}`).toEqual(EVENTS);
  });

  it('gives the same events one character at a time and in random pieces', () => {
    expect(parseInPieces([...STREAM])).toEqual(EVENTS);
    let seed = 7;
    for (let round = 0; round < 200; round++) {
      const pieces: string[] = [];
      for (let at = 0; at < STREAM.length;) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const size = 1 + (seed % 9);
        pieces.push(STREAM.slice(at, at + size));
        at += size;
      }
      expect(parseInPieces(pieces)).toEqual(EVENTS);
    }
  });

  it('a lone \\r at the end of a piece is decided by the next piece', () => {
    // Until then it could be half of \r\n: the blank line that ends the event is not yet certain.
    expect(parseInPieces(['data: x\r', '\ndata: y\r', '\r'])).toEqual([]);
    expect(parseInPieces(['data: x\r', '\ndata: y\r', '\r', ': next'])).toEqual(['x\ny']);
    expect(parseInPieces(['data: x\r', 'data: y\r\r', '\n'])).toEqual(['x\ny']);
  });

  it('refuses a line longer than its bound instead of buffering it', () => {
    const parser = createSseParser(() => undefined, 16);
    parser.push('data: 0123456789');
    expect(() => parser.push('0123456789')).toThrow(/longer than 16 characters/);
  });

  it('is self-contained: its source alone, evaluated in an empty context, parses the stream', () => {
    const isolated = runInNewContext(`(${createSseParser.toString()})`, {}) as typeof createSseParser;
    expect(parseInPieces([...STREAM], isolated)).toEqual(EVENTS);
  });
});
