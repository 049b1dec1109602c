import type { HpkeBackend } from './backend.js';
import { nodeBackend } from './node-backend.js';

/*
 * node:crypto (OpenSSL) for everything, because it measured faster for every primitive we use and
 * so for every mix (`npm run bench:hpke`, Node 20.20, 2-core
 * x86-64 VM, means; tokens of 1-8 bytes):
 *
 *                               node:crypto   @noble/*
 *   seal, per token                 3.9 µs     13.5 µs   (noble's gcm() expands the AES key per call)
 *   open, per token                 3.6 µs     14.7 µs
 *   SetupBaseS, per response        108 µs     1.24 ms   (X25519 DH: 36 µs vs 890 µs)
 *   SetupBaseR, per response         68 µs     1.22 ms
 *   HMAC-SHA256 (57 bytes)          2.3 µs      4.9 µs
 *
 * Mixing did not help: noble X25519 + node AES-GCM keeps node's per-token cost but a ~1.4 ms
 * setup; node X25519 + noble HMAC only adds time to setup. The per-token cost is what matters on
 * the hot path (every generated token is one seal on the server and one open on the client); the
 * setup cost is paid once per response, next to a time-to-first-token of tens of milliseconds.
 * `nobleBackend` stays available (pass `{ backend: nobleBackend }`) for runtimes without node:crypto.
 */
export const defaultBackend: HpkeBackend = nodeBackend;
