import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateNoiseSecret } from '../../src/serve/noise-secret.js';
import { NoiseKeys, loadSgt, noiseFor, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR, IDENTITY_SGT_DIR } from '../support/artifacts.js';

describe('the noise secret and what the noise is bound to', () => {
  let demo: Sgt;
  let identity: Sgt;
  beforeAll(async () => {
    [demo, identity] = await Promise.all([loadSgt(DEMO_SGT_DIR), loadSgt(IDENTITY_SGT_DIR)]);
  });
  afterAll(async () => {
    await Promise.all([demo.close(), identity.close()]);
  });

  it('a generated secret file, given to another replica as SGP_NOISE_SECRET="$(cat file)", derives the same noise', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sgp-secret-')), 'noise-secret');
    const generated = loadOrCreateNoiseSecret(undefined, file);
    expect(generated.source).toBe('local-file');
    expect(loadOrCreateNoiseSecret(undefined, file).secret).toEqual(generated.secret); // read back, not regenerated
    const replica = loadOrCreateNoiseSecret(readFileSync(file, 'utf8').trim(), join(tmpdir(), 'unused'));
    expect(replica.source).toBe('configured');
    const ids = [151644, 872, 198, 9707];
    const noise = (secret: Uint8Array): Float32Array =>
      noiseFor(ids, 64, new NoiseKeys(secret, demo.fingerprint).forRequest('prefix'));
    expect(noise(replica.secret)).toEqual(noise(generated.secret));
  });

  it('the transform fingerprint is stable across loads and differs between artifacts, so their noises differ', async () => {
    const again = await loadSgt(DEMO_SGT_DIR);
    try {
      expect(again.fingerprint).toBe(demo.fingerprint);
    } finally {
      await again.close();
    }
    expect(demo.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(identity.fingerprint).not.toBe(demo.fingerprint);
    const secret = new TextEncoder().encode('one-secret-for-two-artifacts');
    const ids = [151644, 872, 198];
    const a = noiseFor(ids, 64, new NoiseKeys(secret, demo.fingerprint).forRequest('prefix'));
    const b = noiseFor(ids, 64, new NoiseKeys(secret, identity.fingerprint).forRequest('prefix'));
    expect(a).not.toEqual(b);
  });
});
