import type { MiddlewareHandler } from 'hono';
import { UnsupportedMediaTypeError } from '../errors/index.js';
import { HTTP_TOKEN } from '../internal/http-token.js';
import { mediaTypeOf } from '../internal/media-type.js';

/**
 * For the routes that take a JSON body, before it is read: `Content-Type: application/json` (parameters such as `charset=utf-8` allowed) or 415. A missing
 * header is refused too: a browser's `fetch` with an untyped body (a Blob, an ArrayBuffer) sends
 * none and needs no preflight either. vLLM's `validate_json_request` refuses both the same way.
 */
export function requireJsonContentType(): MiddlewareHandler {
  return async function jsonContentType(c, next) {
    const contentType = c.req.header('content-type');
    const mediaType = mediaTypeOf(contentType);
    if (mediaType !== 'application/json') {
      throw new UnsupportedMediaTypeError(
        `This endpoint takes a JSON body sent with "Content-Type: application/json"; the request has ${describe(contentType, mediaType)}.`,
      );
    }
    await next();
  };
}

/** Named back only when it is a plain `type/subtype` of RFC 6838's length: never arbitrary header text. */
function describe(contentType: string | undefined, mediaType: string): string {
  if (contentType === undefined) return 'no Content-Type header';
  const [type, subtype, ...rest] = mediaType.split('/');
  const plain = rest.length === 0 && mediaType.length <= 127 && [type, subtype].every((p) => HTTP_TOKEN.test(p ?? ''));
  return plain ? `Content-Type ${mediaType}` : 'a Content-Type that is not a media type';
}
