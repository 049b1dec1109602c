import type { Handler } from 'hono';
import { playgroundPage } from './page.js';

/** `GET /`: the playground page, built once. */
export function playground(options: { apiKeyRequired: boolean }): Handler {
  const page = playgroundPage(options);
  return (c) =>
    c.html(page.html, 200, {
      'content-security-policy': page.contentSecurityPolicy,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
}
