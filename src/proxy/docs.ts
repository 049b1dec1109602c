import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import {
  chatCompletionChunkSchema,
  chatCompletionRequestSchema,
  chatCompletionSchema,
  errorEnvelopeSchema,
  modelListSchema,
  stainedGlassRequestSchema,
  stainedGlassResponseSchema,
} from './schemas.js';

// swagger-ui-dist ships the assets; serving them ourselves keeps /docs working with no internet.
const SWAGGER_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>sgt-proxy API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>`;

const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui' });`;

const errorResponses = {
  400: { description: 'Invalid request', content: { 'application/json': { schema: errorEnvelopeSchema } } },
  401: { description: 'Missing or wrong API key', content: { 'application/json': { schema: errorEnvelopeSchema } } },
  413: { description: 'Body over the limit', content: { 'application/json': { schema: errorEnvelopeSchema } } },
  502: {
    description: 'Upstream unreachable or broken',
    content: { 'application/json': { schema: errorEnvelopeSchema } },
  },
  504: { description: 'Upstream timeout', content: { 'application/json': { schema: errorEnvelopeSchema } } },
};

export function registerDocs(app: OpenAPIHono): void {
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/chat/completions',
    summary: 'Chat completion through the Stained Glass Transform',
    description:
      'The prompt is transformed into obfuscated embeddings; only those reach the inference server. With `stream: true` the answer is server-sent events of ChatCompletionChunk, ending with `data: [DONE]`.',
    request: { body: { content: { 'application/json': { schema: chatCompletionRequestSchema } }, required: true } },
    responses: {
      200: {
        description: 'The completion (JSON), or its chunks (text/event-stream)',
        content: {
          'application/json': { schema: chatCompletionSchema },
          'text/event-stream': { schema: chatCompletionChunkSchema },
        },
      },
      ...errorResponses,
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/stainedglass',
    summary: 'The transform alone, for inspection',
    description:
      'Tokenizes the templated prompt and runs the SGT; optionally returns the plain and transformed embeddings, the prompt a server could reconstruct by nearest-neighbour search, and the obfuscation score (fraction of tokens not recovered).',
    request: { body: { content: { 'application/json': { schema: stainedGlassRequestSchema } }, required: true } },
    responses: {
      200: {
        description: 'Inspection result',
        content: { 'application/json': { schema: stainedGlassResponseSchema } },
      },
      400: errorResponses[400],
      413: errorResponses[413],
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/models',
    summary: "The upstream's models",
    responses: {
      200: { description: 'Model list', content: { 'application/json': { schema: modelListSchema } } },
      502: errorResponses[502],
    },
  });
  for (const path of ['/livez', '/readyz']) {
    app.openAPIRegistry.registerPath({
      method: 'get',
      path,
      responses: { 200: { description: 'OK' }, 503: { description: 'Not ready' } },
    });
  }

  app.doc31('/openapi.json', { openapi: '3.1.0', info: { title: 'sgt-proxy', version: '1' } });
  app.get('/docs', (c) => c.html(DOCS_HTML));
  app.get('/docs/init.js', (c) => c.body(DOCS_INIT, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/docs/assets/:name', async (c) => {
    const name = c.req.param('name');
    if (!Object.hasOwn(ASSETS, name)) return c.notFound();
    const type = ASSETS[name]!;
    const bytes = await readFile(join(SWAGGER_DIR, name));
    return c.body(bytes, 200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
  });
}
