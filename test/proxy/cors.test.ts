import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { jsonBody, startScriptedUpstream, streamTokens, type ScriptedUpstream } from '../support/scripted-upstream.js';

/** CORS over real HTTP: the proxy on loopback, Node's fetch sending the headers a browser would. */

const APP = 'https://app.example.com';
const OTHER = 'https://evil.example.com';
const KEY = 'cors-test-key';

let sgt: Sgt;
let upstream: ScriptedUpstream;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  upstream = await startScriptedUpstream((req, res) => {
    if (req.path === '/v1/models') return jsonBody(200, { object: 'list', data: [] })(req, res);
    return streamTokens(['ok'])(req, res);
  });
});

afterAll(async () => {
  await upstream?.close();
  await sgt?.close();
});

async function withProxy(
  settings: Parameters<typeof startProxy>[0]['settings'],
  run: (proxy: ProxyUnderTest) => Promise<void>,
  protection?: Parameters<typeof startProxy>[0]['protection'],
): Promise<void> {
  const proxy = await startProxy({ sgt, upstreamUrl: upstream.url, settings, protection });
  try {
    await run(proxy);
  } finally {
    await proxy.close();
  }
}

function preflight(url: string, origin: string, headers = 'authorization, content-type'): Promise<Response> {
  return fetch(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
  });
}

function headerList(response: Response, name: string): string[] {
  return (response.headers.get(name) ?? '').split(',').map((s) => s.trim().toLowerCase());
}

describe('CORS off (SGP_CORS_ORIGINS unset, the default)', () => {
  it('a preflight is routed like any request (404; 401 under SGP_API_KEY) and no response carries CORS headers', async () => {
    await withProxy({}, async (proxy) => {
      const response = await preflight(`${proxy.url}/v1/chat/completions`, APP);
      expect(response.status).toBe(404);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      const answer = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }), { origin: APP });
      await answer.text();
      expect(answer.status).toBe(200);
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    });
    await withProxy({ apiKey: KEY }, async (proxy) => {
      expect((await preflight(`${proxy.url}/v1/chat/completions`, APP)).status).toBe(401);
    });
  });
});

describe('CORS for a list of origins', () => {
  it('answers the preflight of a listed origin with 204 before authentication, with the allowed methods and headers', async () => {
    await withProxy({ corsOrigins: [APP], apiKey: KEY }, async (proxy) => {
      for (const path of ['/v1/chat/completions', '/v1/stainedglass', '/v1/models']) {
        const response = await preflight(`${proxy.url}${path}`, APP);
        expect(response.status, path).toBe(204);
        expect(await response.text()).toBe('');
        expect(response.headers.get('access-control-allow-origin')).toBe(APP);
        expect(headerList(response, 'access-control-allow-methods')).toEqual(['get', 'post']);
        expect(headerList(response, 'access-control-allow-headers')).toEqual(
          expect.arrayContaining(['authorization', 'content-type', 'x-request-id', 'x-client-public-key']),
        );
        expect(response.headers.get('access-control-max-age')).toBe('600');
        expect(response.headers.get('access-control-allow-credentials')).toBeNull();
        expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
      }
    });
  });

  it('lets the openai SDK preflight from a browser: its x-stainless-* headers are allowed', async () => {
    await withProxy({ corsOrigins: [APP] }, async (proxy) => {
      const response = await preflight(`${proxy.url}/v1/chat/completions`, APP);
      expect(headerList(response, 'access-control-allow-headers')).toEqual(
        expect.arrayContaining(['x-stainless-os', 'x-stainless-retry-count', 'x-stainless-timeout', 'openai-project']),
      );
    });
  });

  it('uses the configured output-protection header names: the client key allowed, the server key exposed', async () => {
    await withProxy(
      { corsOrigins: [APP] },
      async (proxy) => {
        const pre = await preflight(`${proxy.url}/v1/chat/completions`, APP);
        const allowed = headerList(pre, 'access-control-allow-headers');
        expect(allowed).toContain('x-my-client-key');
        expect(allowed).not.toContain('x-client-public-key');
        const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }), {
          origin: APP,
        });
        await response.text();
        expect(headerList(response, 'access-control-expose-headers')).toEqual([
          'x-request-id',
          'x-my-server-key',
          'retry-after',
        ]);
      },
      { clientKeyHeader: 'x-my-client-key', serverKeyHeader: 'x-my-server-key' },
    );
  });

  it('marks answers to a listed origin, streams and errors included, so the page can read them', async () => {
    await withProxy({ corsOrigins: [APP, 'http://localhost:5173'], apiKey: KEY }, async (proxy) => {
      const auth = { origin: APP, authorization: `Bearer ${KEY}` };
      const stream = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }), auth);
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(await stream.text()).toContain('data: [DONE]');
      const refused = await postJson(`${proxy.url}/v1/chat/completions`, chatBody(), { origin: APP });
      const invalid = await postJson(`${proxy.url}/v1/chat/completions`, { messages: [] }, auth);
      const unknown = await fetch(`${proxy.url}/v1/nope`, { headers: auth });
      for (const [response, status] of [
        [stream, 200],
        [refused, 401],
        [invalid, 400],
        [unknown, 404],
      ] as const) {
        expect(response.status).toBe(status);
        expect(response.headers.get('access-control-allow-origin'), String(status)).toBe(APP);
        expect(headerList(response, 'access-control-expose-headers')).toContain('x-request-id');
        expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
      }
      const second = await fetch(`${proxy.url}/livez`, { headers: { origin: 'http://localhost:5173' } });
      expect(second.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    });
  });

  it('gives an origin not in the list no CORS headers: the browser then keeps the answer from its page', async () => {
    await withProxy({ corsOrigins: [APP], apiKey: KEY }, async (proxy) => {
      for (const origin of [OTHER, `${APP}.evil.example`, 'null', APP.toUpperCase()]) {
        const pre = await preflight(`${proxy.url}/v1/chat/completions`, origin);
        expect(pre.status).toBe(204);
        expect(pre.headers.get('access-control-allow-origin'), origin).toBeNull();
        expect(pre.headers.get('access-control-allow-headers')).toBeNull();
        const response = await fetch(`${proxy.url}/livez`, { headers: { origin } });
        expect(response.status).toBe(200);
        expect(response.headers.get('access-control-allow-origin')).toBeNull();
        expect(response.headers.get('access-control-expose-headers')).toBeNull();
        expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
      }
    });
  });

  it('a request without Origin is served as before, with Vary: Origin for caches', async () => {
    await withProxy({ corsOrigins: [APP] }, async (proxy) => {
      const response = await fetch(`${proxy.url}/livez`);
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      expect(response.headers.get('vary')).toMatch(/\bOrigin\b/);
    });
  });

  it('an OPTIONS that is no preflight (no Access-Control-Request-Method) is routed as usual', async () => {
    await withProxy({ corsOrigins: [APP] }, async (proxy) => {
      const response = await fetch(`${proxy.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: APP } });
      expect(response.status).toBe(404);
      expect(response.headers.get('access-control-allow-origin')).toBe(APP);
    });
  });
});

describe('CORS for any origin (*)', () => {
  it('answers every origin with *, and no Vary: the answer does not depend on it', async () => {
    await withProxy({ corsOrigins: '*', apiKey: KEY }, async (proxy) => {
      const pre = await preflight(`${proxy.url}/v1/chat/completions`, OTHER);
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('*');
      expect(pre.headers.get('vary')).toBeNull();
      const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }), {
        origin: OTHER,
        authorization: `Bearer ${KEY}`,
      });
      await response.text();
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    });
  });
});
