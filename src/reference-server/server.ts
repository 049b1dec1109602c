import { listen, type RunningServer } from '../http/index.js';
import { createReferenceServerApp, type ReferenceServerOptions } from './app.js';

export type { RunningServer } from '../http/index.js';

export interface StartOptions extends ReferenceServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export async function startReferenceServer(options: StartOptions): Promise<RunningServer> {
  const server = await listen(createReferenceServerApp(options).fetch, options.host, options.port);
  options.logger.info({ url: server.url, mode: options.mode, output_protection: options.outputProtection, model: options.sgt.metadata.baseModel }, 'reference server listening');
  return server;
}
