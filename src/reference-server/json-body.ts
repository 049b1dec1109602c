import { mediaTypeOf } from '../internal/media-type.js';
import { readAtMost } from '../internal/read-at-most.js';
import { payloadTooLarge, requestValidationError } from './vllm-errors.js';

/** vLLM's `validate_json_request` dependency: anything but application/json is a 400. */
export function requireJsonContentType(contentType: string | undefined): void {
  if (mediaTypeOf(contentType) !== 'application/json') {
    throw requestValidationError("Unsupported Media Type: Only 'application/json' is allowed");
  }
}

/**
 * The body as JSON, read with a cap: a declared length over the cap is refused before reading, and
 * a chunked body is cut off as soon as it passes it (413 either way), so no oversized body is held.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const text = await readCapped(request, maxBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw requestValidationError(`JSON decode error: ${(err as Error).message}`);
  }
}

async function readCapped(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) throw payloadTooLarge(maxBytes);
  const { bytes, complete } = await readAtMost(request.body, maxBytes);
  if (!complete) throw payloadTooLarge(maxBytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw requestValidationError('JSON decode error: the body is not valid UTF-8');
  }
}
