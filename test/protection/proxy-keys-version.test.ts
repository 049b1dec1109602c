import { describe, expect, it } from 'vitest';
import {
  ProxyOutputProtection,
  chunkOpener,
  chunkSealer,
  decodeBase64Strict,
  encodeBase64,
  generateKeyPair,
  protectionVersion,
  setupProtectedSender,
  type ProtectionVersion,
} from '../../src/protection/index.js';

const settings = (decrypt: boolean) => ({
  decrypt,
  clientKeyHeader: 'x-client-public-key',
  serverKeyHeader: 'x-server-public-key',
  keyRefreshMs: 60_000,
});

/** What a protected upstream does with the proxy's headers: seal for its key, in the version asked. */
function upstreamAnswer(upstreamHeaders: Record<string, string>, answerVersion: ProtectionVersion | undefined) {
  const key = decodeBase64Strict(upstreamHeaders['x-client-public-key']!)!;
  const { enc, context } = setupProtectedSender(key, answerVersion ?? 1);
  const headers = new Headers({ 'x-server-public-key': encodeBase64(enc) });
  if (answerVersion !== undefined) headers.set('x-output-protection-version', String(answerVersion));
  const chunk = { choices: [{ index: 0, text: 'hi', logprobs: answerVersion === 2 ? { tokens: ['hi'] } : null }] };
  return { headers, sealed: chunkSealer(context)(chunk), chunk };
}

describe('the proxy holding the key (SGP_OUTPUT_DECRYPTION=true)', () => {
  it('asks for v2 and opens a v2 answer, logprobs tokens included', () => {
    const call = new ProxyOutputProtection(settings(true)).begin(new Headers());
    expect(call.upstreamHeaders['x-output-protection-version']).toBe('2');
    const { headers, sealed, chunk } = upstreamAnswer(call.upstreamHeaders, 2);
    const { recipient } = call.accept(headers);
    expect(protectionVersion(recipient!)).toBe(2);
    expect(chunkOpener(recipient!)(sealed)).toEqual(chunk);
  });

  it('opens the v1 answer of an upstream that predates v2 (no version header in its response)', () => {
    const call = new ProxyOutputProtection(settings(true)).begin(new Headers());
    const { headers, sealed, chunk } = upstreamAnswer(call.upstreamHeaders, undefined);
    expect(chunkOpener(call.accept(headers).recipient!)(sealed)).toEqual(chunk);
  });
});

describe('pass-through (SGP_OUTPUT_DECRYPTION=false)', () => {
  const clientKey = encodeBase64(generateKeyPair().publicKey);

  it("forwards the client's version header with its key, and relays the upstream's version back", () => {
    const call = new ProxyOutputProtection(settings(false)).begin(
      new Headers({ 'x-client-public-key': clientKey, 'x-output-protection-version': '2' }),
    );
    expect(call.upstreamHeaders).toEqual({ 'x-client-public-key': clientKey, 'x-output-protection-version': '2' });
    const answer = call.accept(new Headers({ 'x-server-public-key': clientKey, 'x-output-protection-version': '2' }));
    expect(answer.clientHeaders).toEqual({ 'x-server-public-key': clientKey, 'x-output-protection-version': '2' });
  });

  it('a v1 client (no version header) sends none upstream; an unknown version is a 400 naming the header', () => {
    const v1 = new ProxyOutputProtection(settings(false)).begin(new Headers({ 'x-client-public-key': clientKey }));
    expect(v1.upstreamHeaders).toEqual({ 'x-client-public-key': clientKey });
    expect(() =>
      new ProxyOutputProtection(settings(false)).begin(
        new Headers({ 'x-client-public-key': clientKey, 'x-output-protection-version': 'v2' }),
      ),
    ).toThrow(expect.objectContaining({ status: 400, param: 'x-output-protection-version' }));
  });
});
