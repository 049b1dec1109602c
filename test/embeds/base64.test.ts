import { describe, expect, it } from 'vitest';
import {
  TorchFormatError,
  decodePromptEmbeds,
  encodePromptEmbeds,
  encodePromptEmbedsAscii,
} from '../../src/embeds/index.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** An encoded tensor whose base64 ends in `pad` '=' characters (the archive length decides). */
function encodedWithPadding(pad: number): string {
  for (let n = 1; n <= 200; n += 32) {
    const s = encodePromptEmbeds(new Float32Array(n).fill(0.25), [n], 'float16');
    if (s.length - s.replace(/=+$/, '').length === pad) return s;
  }
  throw new Error(`no small tensor gives ${pad} padding characters`);
}

function rejects(input: string, message: RegExp): void {
  expect(() => decodePromptEmbeds(input)).toThrow(TorchFormatError);
  expect(() => decodePromptEmbeds(input)).toThrow(message);
}

describe('decodePromptEmbeds base64 strictness (b64decode(s, validate=True))', () => {
  const valid = encodePromptEmbeds(new Float32Array([1, 2, 3, 4]), [2, 2], 'bfloat16');

  it('decodes a valid string', () => {
    expect(decodePromptEmbeds(valid)).toEqual({
      data: new Float32Array([1, 2, 3, 4]),
      shape: [2, 2],
      dtype: 'bfloat16',
    });
  });

  it('rejects the empty string', () => {
    rejects('', /prompt_embeds is empty/);
  });

  it('rejects characters outside the standard alphabet, naming the first', () => {
    rejects(`${valid.slice(0, 8)} ${valid.slice(9)}`, /character " " at index 8/);
    rejects(`${valid.slice(0, 76)}\n${valid.slice(76)}`, /character "\\n" at index 76/);
    rejects(valid.replace(/\+|\//g, (c) => (c === '+' ? '-' : '_')).replace(/^./, '-'), /character "-" at index 0/); // URL-safe alphabet
    rejects(`é${valid.slice(1)}`, /character "é" at index 0/);
  });

  it('rejects bad padding', () => {
    const one = encodedWithPadding(1);
    rejects(one.slice(0, -1), /length \d+ is not a multiple of 4/); // padding stripped
    rejects(`${one}=`, /length \d+ is not a multiple of 4/);
    rejects(`${one.slice(0, -2)}===`, /padding '=' at index/);
    rejects(`${one}AAA=`, /padding '=' at index/); // data after padding
    rejects('Q===', /padding '=' at index 1/);
    rejects('QQ=', /not a multiple of 4/);
    rejects('AAAA=', /not a multiple of 4/); // Python tolerates this surplus '='; we do not
  });

  it('accepts non-zero bits in the last character, as Python does', () => {
    const s = encodedWithPadding(2);
    const last = s.length - 3;
    const tweaked = s.slice(0, last) + ALPHABET[ALPHABET.indexOf(s[last]!) | 0x0f] + s.slice(last + 1);
    expect(tweaked).not.toBe(s);
    expect(decodePromptEmbeds(tweaked)).toEqual(decodePromptEmbeds(s));
  });

  it('rejects valid base64 of something that is not a torch file', () => {
    rejects(Buffer.from('hello world!').toString('base64'), /not a zip archive/);
  });

  it('rejects a non-string', () => {
    expect(() => decodePromptEmbeds(42 as unknown as string)).toThrow(/must be a base64 string/);
  });
});

describe('encodePromptEmbedsAscii', () => {
  it.each([1, 3, 700])('is the base64 text as ASCII bytes, in a buffer of its own (%i values)', (n) => {
    const data = Float32Array.from({ length: n }, (_, i) => i / 7);
    const bytes = encodePromptEmbedsAscii(data, [n], 'bfloat16');
    expect(Buffer.from(bytes).toString('latin1')).toBe(encodePromptEmbeds(data, [n], 'bfloat16'));
    // Transferred to the event loop's thread: it must not be a view of memory shared with anything else.
    expect([bytes.byteOffset, bytes.buffer.byteLength]).toEqual([0, bytes.byteLength]);
  });
});
