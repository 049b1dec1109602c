import { z } from '@hono/zod-openapi';
import type { UpstreamPool, UpstreamState } from '../upstream/index.js';

/** The body of GET /readyz (docs/http-api.md). */
export const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not ready']),
    sgt: z.literal('loaded'),
    /** `reachable` while at least one upstream is healthy. */
    upstream: z.enum(['reachable', 'unreachable']),
    upstreams: z.array(
      z.object({
        url: z.string().openapi({ description: 'The base URL, without credentials' }),
        state: z.enum(['healthy', 'out']),
        in_flight: z.number().int().min(0),
      }),
    ),
  })
  .openapi('Readiness', {
    example: {
      status: 'ready',
      sgt: 'loaded',
      upstream: 'reachable',
      upstreams: [{ url: 'http://127.0.0.1:8000', state: 'healthy', in_flight: 0 }],
    },
  });

type Readiness = z.infer<typeof readinessSchema>;

/** Ready while the SGT is loaded (it is, once the app exists) and at least one upstream is healthy. */
export async function readiness(upstream: UpstreamPool): Promise<{ body: Readiness; status: 200 | 503 }> {
  const states = await upstream.readiness();
  const ready = states.some((s) => s.healthy);
  return {
    body: {
      status: ready ? 'ready' : 'not ready',
      sgt: 'loaded',
      upstream: ready ? 'reachable' : 'unreachable',
      upstreams: states.map(upstreamEntry),
    },
    status: ready ? 200 : 503,
  };
}

function upstreamEntry(state: UpstreamState): Readiness['upstreams'][number] {
  return { url: state.url, state: state.healthy ? 'healthy' : 'out', in_flight: state.inFlight };
}
