import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { chatBody, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { startScriptedUpstream, streamTokens, type ScriptedUpstream } from '../support/scripted-upstream.js';

/**
 * JSON routes take only `application/json`: the content types a browser may send cross-origin
 * without a preflight (text/plain, forms, multipart, no type at all) are refused before the body is read.
 */

let sgt: Sgt;
let upstream: ScriptedUpstream;
let proxy: ProxyUnderTest;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  upstream = await startScriptedUpstream(streamTokens(['ok']));
  proxy = await startProxy({ sgt, upstreamUrl: upstream.url });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
  await sgt?.close();
});

const ROUTES = ['/v1/chat/completions', '/v1/stainedglass'];
const BODY = JSON.stringify(chatBody({ stream: true }));

function post(path: string, init: { contentType?: string; body?: Blob | string }): Promise<Response> {
  const headers: Record<string, string> = init.contentType === undefined ? {} : { 'content-type': init.contentType };
  return fetch(`${proxy.url}${path}`, { method: 'POST', headers, body: init.body ?? BODY });
}

describe('a JSON route given another content type', () => {
  it.each(
    ROUTES.flatMap((path) =>
      [
        ['text/plain', 'Content-Type text/plain'],
        ['text/plain;charset=UTF-8', 'Content-Type text/plain'],
        ['application/x-www-form-urlencoded', 'Content-Type application/x-www-form-urlencoded'],
        ['multipart/form-data; boundary=x', 'Content-Type multipart/form-data'],
        ['application/jsonx', 'Content-Type application/jsonx'],
        ['application/merge-patch+json', 'Content-Type application/merge-patch+json'],
        ['', 'a Content-Type that is not a media type'],
        ['application/json/x', 'a Content-Type that is not a media type'],
        ['"application/json"', 'a Content-Type that is not a media type'],
      ].map(([type, named]) => [path, type!, named!] as const),
    ),
  )('%s, %j → 415 envelope naming it, nothing sent upstream', async (path, contentType, named) => {
    upstream.requests.length = 0;
    const response = await post(path, { contentType });
    expect(response.status).toBe(415);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toEqual({
      error: {
        message: `This endpoint takes a JSON body sent with "Content-Type: application/json"; the request has ${named}.`,
        type: 'invalid_request_error',
        param: null,
        code: 'unsupported_media_type',
      },
    });
    expect(upstream.requests).toHaveLength(0);
  });

  it.each(ROUTES)(
    '%s without a Content-Type header (an untyped Blob body, as a browser sends it) → 415',
    async (path) => {
      const response = await post(path, { body: new Blob([BODY]) });
      expect(response.status).toBe(415);
      expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
        /the request has no Content-Type header\.$/,
      );
    },
  );

  it('never echoes a header value that is not a plain media type', async () => {
    const hostile = `text/${'x'.repeat(200)}`;
    const response = await post('/v1/chat/completions', { contentType: hostile });
    expect(response.status).toBe(415);
    expect(await response.text()).not.toContain('xxxxxxxx');
  });
});

describe('application/json', () => {
  it.each([
    'application/json',
    'application/json; charset=utf-8',
    'Application/JSON;charset=UTF-8',
    ' application/json ',
  ])('%j passes on both routes', async (contentType) => {
    for (const path of ROUTES) {
      const response = await post(path, { contentType });
      expect(response.status, path).toBe(200);
      await response.text();
    }
  });

  it('is what the openai SDK sends', async () => {
    const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('ok');
  });

  it('GET on a JSON route is still a 404, not a 415', async () => {
    const response = await fetch(`${proxy.url}/v1/chat/completions`);
    expect(response.status).toBe(404);
  });
});
