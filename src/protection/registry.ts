import { randomUUID } from 'node:crypto';
import type { HpkeSenderContext } from './hpke/index.js';

export interface Registration {
  /** The id the context is registered under: the one asked for, or a fresh one if that was taken. */
  requestId: string;
  /** Removes the entry. Idempotent, and never removes a later registration under the same id. */
  release(): void;
}

/**
 * The product's "key registry": request id → the HPKE sender context of that request's response,
 * present from before the handler runs until the response body has ended (completed, failed or
 * cancelled). One per process (`outputProtectionRegistry`) is what the middleware uses unless told
 * otherwise; tests pass their own to watch it.
 */
export class OutputProtectionRegistry {
  readonly #contexts = new Map<string, HpkeSenderContext>();

  /** How many responses are in flight with output protection. */
  get size(): number {
    return this.#contexts.size;
  }

  get(requestId: string): HpkeSenderContext | undefined {
    return this.#contexts.get(requestId);
  }

  has(requestId: string): boolean {
    return this.#contexts.has(requestId);
  }

  /**
   * Registers `context` under `requestId`, or under a fresh id when none is given or it is in use:
   * a client-chosen id must never let one request reach another one's context.
   */
  register(requestId: string | undefined, context: HpkeSenderContext): Registration {
    let id = requestId;
    while (id === undefined || this.#contexts.has(id)) id = randomUUID().replaceAll('-', '');
    this.#contexts.set(id, context);
    const contexts = this.#contexts;
    return {
      requestId: id,
      release() {
        if (contexts.get(id) === context) contexts.delete(id);
      },
    };
  }
}

/** The process-wide registry (what UserPublicKeyMiddleware's class-level registry is in the product). */
export const outputProtectionRegistry = new OutputProtectionRegistry();
