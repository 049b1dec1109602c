import { describe, expect, it } from 'vitest';
import { ConfigError, envSchema, parseEnv } from '../../src/config/index.js';

describe('parseEnv', () => {
  it('gives the documented defaults for an empty environment', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      SGP_HOST: '0.0.0.0',
      SGP_PORT: 8600,
      SGP_DEVICE: 'cpu',
      SGP_MAX_NEW_TOKENS: 512,
      SGP_EPHEMERAL_KEY_REFRESH_TIME_SECONDS: 3600,
      SGP_EMBEDS_DTYPE: 'bfloat16',
      SG_CLIENT_PUBLIC_KEY_HEADER_NAME: 'x-client-public-key',
      SG_SERVER_PUBLIC_KEY_HEADER_NAME: 'x-server-public-key',
      SGP_REQUEST_HEADERS_TO_ADD: [],
      SGP_TOOL_PARSER: 'hermes',
      SGP_REASONING_PARSER: 'none',
      SGP_STRUCTURED_OUTPUTS: 'structured_outputs',
    });
    expect(env.SGP_INFERENCE_SERVICE_HOST).toBeUndefined();
    expect(env.SGP_OUTPUT_DECRYPTION).toBeUndefined();
  });

  it('parses every kind of value', () => {
    const env = parseEnv({
      SGP_PORT: '9000',
      SGP_INFERENCE_SERVICE_HOST: 'http://vllm:8000/',
      SGP_OUTPUT_DECRYPTION: 'True',
      SGP_REQUEST_HEADERS_TO_ADD: 'X-Tenant=acme, X-Trace = on=1',
      SGP_EMBEDS_DTYPE: 'float16',
      SG_CLIENT_PUBLIC_KEY_HEADER_NAME: 'X-My-Key',
    });
    expect(env.SGP_PORT).toBe(9000);
    expect(env.SGP_INFERENCE_SERVICE_HOST).toBe('http://vllm:8000');
    expect(env.SGP_OUTPUT_DECRYPTION).toBe(true);
    expect(env.SGP_REQUEST_HEADERS_TO_ADD).toEqual([
      ['x-tenant', 'acme'],
      ['x-trace', 'on=1'],
    ]);
    expect(env.SG_CLIENT_PUBLIC_KEY_HEADER_NAME).toBe('x-my-key');
  });

  it('treats empty variables as unset', () => {
    const env = parseEnv({ SGP_PORT: '', SGP_SGT_PATH: '' });
    expect(env.SGP_PORT).toBe(8600);
    expect(env.SGP_SGT_PATH).toBeUndefined();
  });

  it.each([
    ['SGP_PORT', 'eighty'],
    ['SGP_PORT', '70000'],
    ['SGP_DEVICE', 'tpu'],
    ['SGP_INFERENCE_SERVICE_HOST', 'vllm:8000'],
    ['SGP_MAX_NEW_TOKENS', '0'],
    ['SGP_OUTPUT_DECRYPTION', 'maybe'],
    ['SGP_EMBEDS_DTYPE', 'int8'],
    ['SGP_TOOL_PARSER', 'mistral'],
    ['SGP_REASONING_PARSER', 'qwen2'],
    ['SGP_STRUCTURED_OUTPUTS', 'guided_json'],
    ['SGP_REQUEST_HEADERS_TO_ADD', 'no-equals-sign'],
    ['SG_SERVER_PUBLIC_KEY_HEADER_NAME', 'bad header'],
    ['SGP_INFERENCE_SERVICE_HOST', 'http://user:secret@vllm:8000'],
    ['SGP_UPSTREAM_TIMEOUT_SECONDS', '1e9'],
  ])('a bad %s stops start-up with one line naming it', (name, value) => {
    expect(() => parseEnv({ [name]: value })).toThrow(ConfigError);
    try {
      parseEnv({ [name]: value });
    } catch (err) {
      const message = (err as Error).message;
      expect(message).toMatch(new RegExp(`^invalid configuration: ${name}: `));
      expect(message.split('\n')).toHaveLength(1);
    }
  });

  it('never echoes a secret value in its error', () => {
    expect(() => parseEnv({ SGP_NOISE_SECRET: 'short-secret' })).toThrow(/SGP_NOISE_SECRET: at least 16/);
    try {
      parseEnv({ SGP_NOISE_SECRET: 'short-secret' });
    } catch (err) {
      expect((err as Error).message).not.toContain('short-secret');
    }
  });

  it('needs the upstream username and password together', () => {
    expect(() => parseEnv({ SGP_API_USERNAME: 'u' })).toThrow(
      /SGP_API_USERNAME and SGP_API_PASSWORD must be set together/,
    );
  });

  it('every variable, given hostile values, either parses or fails with one ConfigError line naming it', () => {
    const hostile = [
      '\u0000',
      ' ',
      '-1',
      '0',
      '1e309',
      'NaN',
      '0x10',
      'x'.repeat(100_000),
      'http://[::1',
      'http://127.0.0.1:1,http://127.0.0.1:2',
      '%',
      '../../etc/passwd',
      'true\n',
      '=',
      ',',
      'a=b,c',
      'http://u:p@h',
      'ftp://x',
      '9'.repeat(400),
      '1.5',
      'Infinity',
      '\uD800',
      '☃',
    ];
    let failures = 0;
    for (const name of Object.keys(envSchema.shape)) {
      for (const value of hostile) {
        try {
          parseEnv({ [name]: value });
        } catch (err) {
          failures++;
          expect(err, `${name}=${JSON.stringify(value).slice(0, 30)}`).toBeInstanceOf(ConfigError);
          const message = (err as Error).message;
          expect(message).toMatch(new RegExp(`^invalid configuration: .*${name}`));
          expect(message.split('\n')).toHaveLength(1);
          if (value.length > 8) expect(message).not.toContain(value);
        }
      }
    }
    expect(failures).toBeGreaterThan(100); // the values are hostile: most must be refused
  });

  it('a comma-separated list of upstreams is refused with a reason, not a TypeError', () => {
    expect(() => parseEnv({ SGP_INFERENCE_SERVICE_HOST: 'http://127.0.0.1:1,http://127.0.0.1:2' })).toThrow(
      /^invalid configuration: SGP_INFERENCE_SERVICE_HOST: one URL \(a comma-separated list of upstreams is not supported\)$/,
    );
  });
});
