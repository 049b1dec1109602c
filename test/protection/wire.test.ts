import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/errors/index.js';
import {
  DecryptionError,
  OUTPUT_PROTECTION_INFO,
  choiceAad,
  decodeBase64Strict,
  generateKeyPair,
  openText,
  parseClientPublicKey,
  parseServerPublicKey,
  sealText,
  setupBaseR,
  setupBaseS,
} from '../../src/protection/index.js';

const KEY = Buffer.alloc(32, 7).toString('base64'); // 44 characters, one '='

describe('wire format constants', () => {
  it('uses the v1 info string', () => {
    expect(OUTPUT_PROTECTION_INFO).toBe('sgt-output-protection/v1');
  });

  it('aad is the choice index in ASCII decimal', () => {
    expect(new TextDecoder().decode(choiceAad(0))).toBe('0');
    expect(new TextDecoder().decode(choiceAad(12))).toBe('12');
    expect(new TextDecoder().decode(choiceAad(1000))).toBe('1000');
    expect(() => choiceAad(-1)).toThrow(RangeError);
    expect(() => choiceAad(1.5)).toThrow(RangeError);
  });
});

describe('parseClientPublicKey', () => {
  it('accepts 32 bytes of standard padded base64', () => {
    expect(parseClientPublicKey(KEY, 'x-client-public-key')).toEqual(new Uint8Array(32).fill(7));
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['31 bytes', Buffer.alloc(31).toString('base64')],
    ['33 bytes', Buffer.alloc(33).toString('base64')],
    ['unpadded', KEY.replace(/=+$/, '')],
    ['URL-safe alphabet', Buffer.alloc(32, 0xfb).toString('base64url') + '='],
    ['inner whitespace', `${KEY.slice(0, 20)} ${KEY.slice(20)}`],
    ['non-canonical trailing bits', `${KEY.slice(0, 42)}x=`],
    ['hex', Buffer.alloc(32, 7).toString('hex')],
  ])('refuses %s with a 400 naming the header', (_name, value) => {
    let error: unknown;
    try {
      parseClientPublicKey(value, 'x-my-key');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, param: 'x-my-key', type: 'invalid_request_error' });
    expect((error as Error).message).toContain('x-my-key');
  });
});

describe('parseServerPublicKey', () => {
  it('accepts the enc and refuses a missing or malformed header with DecryptionError', () => {
    expect(parseServerPublicKey(KEY)).toHaveLength(32);
    expect(() => parseServerPublicKey(null)).toThrow(/no x-server-public-key header/);
    expect(() => parseServerPublicKey(null)).toThrow(DecryptionError);
    expect(() => parseServerPublicKey('abc=', 'x-srv')).toThrow(/x-srv/);
  });
});

describe('decodeBase64Strict', () => {
  it('round-trips and refuses what Node would silently mangle', () => {
    expect(decodeBase64Strict('')).toEqual(new Uint8Array(0));
    expect(decodeBase64Strict('AAEC')).toEqual(Uint8Array.of(0, 1, 2));
    for (const bad of ['AAE', 'AA==AA==', 'A===', 'AB==', '!!!!', 'AA\n==', '-_8='])
      expect(decodeBase64Strict(bad)).toBeUndefined();
  });
});

describe('sealText / openText', () => {
  const setup = () => {
    const keys = generateKeyPair();
    const { enc, context } = setupBaseS(keys.publicKey, OUTPUT_PROTECTION_INFO);
    return { sender: context, receiver: setupBaseR(enc, keys.privateKey, OUTPUT_PROTECTION_INFO) };
  };

  it('round-trips text as base64 of ciphertext||tag', () => {
    const { sender, receiver } = setup();
    for (const sample of ['a', 'héllo', '👋🏽', '\uFEFF', ' 世界']) {
      const field = sealText(sender, 0, sample);
      expect(Buffer.from(field, 'base64')).toHaveLength(new TextEncoder().encode(sample).length + 16);
      expect(openText(receiver, 0, field)).toBe(sample);
    }
  });

  it('refuses a field that is not base64, a wrong index, and a missing index', () => {
    const { sender, receiver } = setup();
    expect(() => openText(receiver, 0, 'plain text')).toThrow(/not base64/);
    const field = sealText(sender, 0, 'x');
    expect(() => openText(receiver, 1, field)).toThrow(DecryptionError);
    expect(() => openText(receiver, undefined, field)).toThrow(/no valid index/);
    expect(openText(receiver, 0, field)).toBe('x');
  });
});
