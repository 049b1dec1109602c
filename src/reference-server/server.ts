import { listen, type RunningServer } from '../http/index.js';
import { createReferenceServerApp, type ReferenceServerOptions } from './app.js';

export type { RunningServer } from '../http/index.js';

export interface StartOptions extends ReferenceServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export async function startReferenceServer(options: StartOptions): Promise<RunningServer> {
  // Echo mode reads every prompt with the nearest-neighbour index; building it takes the event loop
  // for ~0.25 s at H 64 (more at real size), so it is built before the first request, not during it.
  // Best effort: a build that fails here is retried (and reported) by the first request that needs it.
  if (options.mode === 'echo') {
    await options.sgt.nearestTokens(new Float32Array(options.sgt.metadata.hiddenSize), 1).catch((err: unknown) => {
      options.logger.warn(
        { err },
        'the nearest-neighbour index could not be built at start-up; the first echo request will try again',
      );
    });
  }
  const server = await listen(createReferenceServerApp(options).fetch, options.host, options.port);
  options.logger.info(
    {
      url: server.url,
      mode: options.mode,
      output_protection: options.outputProtection,
      model: options.sgt.metadata.baseModel,
    },
    'reference server listening',
  );
  return server;
}
