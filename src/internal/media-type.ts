/**
 * The media type of a `Content-Type` header: lower-cased, without its parameters, `''` when the
 * header is absent. `application/json; charset=utf-8` → `application/json`.
 */
export function mediaTypeOf(contentType: string | null | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}
