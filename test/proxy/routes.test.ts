import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '../../src/config/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { jsonBody, startScriptedUpstream, streamTokens, type ScriptedUpstream } from '../support/scripted-upstream.js';

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, unknown>;
  components: { schemas: Record<string, { required: string[]; properties: Record<string, unknown> }> };
}

let sgt: Sgt;
let upstream: ScriptedUpstream;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  upstream = await startScriptedUpstream((req, res) => {
    if (req.path === '/v1/models')
      return jsonBody(200, { object: 'list', data: [{ id: 'up-model', object: 'model' }] })(req, res);
    if (req.path === '/health') return jsonBody(200, {})(req, res);
    return streamTokens(['ok'])(req, res);
  });
});

afterAll(async () => {
  await upstream?.close();
  await sgt?.close();
});

async function withProxy(
  options: Partial<Parameters<typeof startProxy>[0]>,
  run: (proxy: ProxyUnderTest) => Promise<void>,
): Promise<void> {
  const proxy = await startProxy({ sgt, upstreamUrl: upstream.url, ...options });
  try {
    await run(proxy);
  } finally {
    await proxy.close();
  }
}

describe('health and models', () => {
  it('/livez is 200; /readyz is 200 with a reachable upstream and 503 without', async () => {
    await withProxy({}, async (proxy) => {
      expect((await fetch(`${proxy.url}/livez`)).status).toBe(200);
      const ready = await fetch(`${proxy.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', upstream: 'reachable' });
    });
    await withProxy({ upstreamUrl: 'http://127.0.0.1:1' }, async (proxy) => {
      const ready = await fetch(`${proxy.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ upstream: 'unreachable' });
    });
  });

  it("/v1/models relays the upstream's list", async () => {
    await withProxy({}, async (proxy) => {
      const response = await fetch(`${proxy.url}/v1/models`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ object: 'list', data: [{ id: 'up-model', object: 'model' }] });
    });
  });
});

describe('authentication', () => {
  it('with SGP_API_KEY, a missing or wrong key → 401 and the right one passes; the key never goes upstream', async () => {
    await withProxy({ settings: { apiKey: 'proxy-key-123' } }, async (proxy) => {
      const endpoint = `${proxy.url}/v1/chat/completions`;
      const missing = await postJson(endpoint, chatBody());
      expect(missing.status).toBe(401);
      expect(((await missing.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
      expect((await postJson(endpoint, chatBody(), { authorization: 'Bearer proxy-key-12' })).status).toBe(401);
      upstream.requests.length = 0;
      const ok = await postJson(endpoint, chatBody({ stream: true }), { authorization: 'Bearer proxy-key-123' });
      expect(ok.status).toBe(200);
      await ok.text();
      expect(upstream.requests[0]!.headers.authorization).toBeUndefined();
      expect((await fetch(`${proxy.url}/livez`)).status).toBe(200); // health stays open for probes
    });
  });

  it('configured upstream credentials and extra headers replace what the client sent', async () => {
    const basic = `Basic ${Buffer.from('user:pass').toString('base64')}`;
    await withProxy(
      { settings: { upstreamBasicAuth: true }, fixedHeaders: { authorization: basic, 'x-tenant': 'acme' } },
      async (proxy) => {
        upstream.requests.length = 0;
        const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }), {
          authorization: 'Bearer client',
          'x-tenant': 'evil',
        });
        await response.text();
        expect(upstream.requests[0]!.headers.authorization).toBe(basic);
        expect(upstream.requests[0]!.headers['x-tenant']).toBe('acme');
      },
    );
  });
});

describe('configured headers', () => {
  it('SGP_REQUEST_HEADERS_TO_ADD=Authorization=… replaces the client header, never joins it', async () => {
    const env = parseEnv({ SGP_REQUEST_HEADERS_TO_ADD: 'Authorization=Bearer upstream-secret' });
    await withProxy({ fixedHeaders: Object.fromEntries(env.SGP_REQUEST_HEADERS_TO_ADD) }, async (proxy) => {
      upstream.requests.length = 0;
      const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }), {
        authorization: 'Bearer client-key',
      });
      await response.text();
      expect(upstream.requests[0]!.headers.authorization).toBe('Bearer upstream-secret');
    });
  });

  it('an upstream error body that stalls ends in time', async () => {
    const stalling = await startScriptedUpstream((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.write('{"error": {"mess');
    });
    const proxy = await startProxy({ sgt, upstreamUrl: stalling.url, upstreamTimeoutMs: 300 });
    try {
      const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody());
      expect(response.status).toBe(400);
      await response.text();
    } finally {
      await proxy.close();
      await stalling.close();
    }
  });

  it('/docs/assets does not serve names from the object prototype', async () => {
    await withProxy({}, async (proxy) => {
      expect((await fetch(`${proxy.url}/docs/assets/constructor`)).status).toBe(404);
    });
  });
});

describe('API documentation', () => {
  it('/openapi.json documents the routes from the zod schemas', async () => {
    await withProxy({}, async (proxy) => {
      const doc = (await (await fetch(`${proxy.url}/openapi.json`)).json()) as OpenApiDoc;
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining(['/v1/chat/completions', '/v1/models', '/livez', '/readyz']),
      );
      const request = doc.components.schemas.ChatCompletionRequest!;
      expect(request.required).toContain('messages');
      expect(request.properties.max_tokens).toBeDefined();
    });
  });

  it('/docs renders from local assets only', async () => {
    await withProxy({}, async (proxy) => {
      const html = await (await fetch(`${proxy.url}/docs`)).text();
      const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      expect(assets.length).toBeGreaterThan(1);
      for (const asset of assets) {
        expect(asset.startsWith('/')).toBe(true); // no CDN
        const response = await fetch(`${proxy.url}${asset}`);
        expect(response.status).toBe(200);
        expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(20);
      }
    });
  });
});
