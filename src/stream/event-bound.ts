/**
 * A bound on one SSE event of the upstream's stream, applied to the bytes before anything buffers
 * them: the SSE parser keeps a whole event in memory, so one 700 MB `data:` line grows the proxy by
 * 700 MB (measured: 268 → 970 MiB for one stream). An event is everything up to a blank line;
 * lines end at LF, CR or CRLF (the SSE grammar), whatever the chunk boundaries.
 */
import { UpstreamProtocolError } from '../errors/index.js';

const LF = 0x0a;
const CR = 0x0d;

/** The push-side state machine: feed it each chunk in order; it throws once an event passes `maxBytes`. */
export function createEventBound(maxBytes: number): (chunk: Uint8Array) => void {
  let eventBytes = 0;
  let lineBytes = 0;
  let afterCr = false;
  return (chunk) => {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (byte === LF && afterCr) {
        afterCr = false; // the LF of a CRLF: the line already ended at its CR
        continue;
      }
      afterCr = byte === CR;
      if (byte === LF || byte === CR) {
        if (lineBytes === 0) eventBytes = 0; // a blank line: the event is complete
        lineBytes = 0;
        continue;
      }
      lineBytes++;
      if (++eventBytes > maxBytes) {
        throw new UpstreamProtocolError(
          `The upstream sent an event larger than ${maxBytes} bytes (SGP_MAX_UPSTREAM_EVENT_BYTES).`,
        );
      }
    }
  };
}
