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
      SGP_UPSTREAM_RETRIES: 1,
      SGP_UPSTREAM_HEALTH_INTERVAL_SECONDS: 5,
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
    expect(env.SGP_INFERENCE_SERVICE_HOST).toEqual(['http://vllm:8000']);
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
    ['SGP_INFERENCE_SERVICE_HOST', 'http://vllm-a:8000,vllm-b:8000'],
    ['SGP_UPSTREAM_RETRIES', '-1'],
    ['SGP_UPSTREAM_HEALTH_INTERVAL_SECONDS', '0'],
    ['SGP_CORS_ORIGINS', 'app.example.com'],
    ['SGP_CORS_ORIGINS', 'https://app.example.com/'],
    ['SGP_CORS_ORIGINS', 'https://app.example.com/chat'],
    ['SGP_CORS_ORIGINS', 'https://App.example.com'],
    ['SGP_CORS_ORIGINS', 'https://app.example.com:443'],
    ['SGP_CORS_ORIGINS', 'null'],
    ['SGP_CORS_ORIGINS', 'file:///tmp/page.html'],
    ['SGP_CORS_ORIGINS', '*, https://app.example.com'],
    ['SGP_CORS_ORIGINS', ' , '],
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

  it('SGP_CORS_ORIGINS: unset is off; * alone, or a list of exact origins with duplicates dropped', () => {
    expect(parseEnv({}).SGP_CORS_ORIGINS).toBeUndefined();
    expect(parseEnv({ SGP_CORS_ORIGINS: ' * ' }).SGP_CORS_ORIGINS).toBe('*');
    expect(
      parseEnv({ SGP_CORS_ORIGINS: 'https://app.example.com, http://localhost:5173,,https://app.example.com' })
        .SGP_CORS_ORIGINS,
    ).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(parseEnv({ SGP_CORS_ORIGINS: 'http://[::1]:8080' }).SGP_CORS_ORIGINS).toEqual(['http://[::1]:8080']);
  });

  it('a bad SGP_CORS_ORIGINS item is named by position and the expected form, not echoed', () => {
    expect(() => parseEnv({ SGP_CORS_ORIGINS: 'https://ok.example.com,https://bad.example.com/' })).toThrow(
      /^invalid configuration: SGP_CORS_ORIGINS: item 2 is not an origin as browsers send it: http\(s\):\/\/host\[:port\] in lower case, without a default port, a path or a trailing slash$/,
    );
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

  describe('a comma-separated list of upstreams', () => {
    const hostError = (value: string): string => {
      try {
        parseEnv({ SGP_INFERENCE_SERVICE_HOST: value });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error(`${value} was accepted`);
    };

    it('gives every URL in order, each trimmed and without its trailing slash', () => {
      expect(
        parseEnv({
          SGP_INFERENCE_SERVICE_HOST: ' http://vllm-a:8000/ ,https://vllm-b.internal/v1base//,http://[::1]:9',
        }).SGP_INFERENCE_SERVICE_HOST,
      ).toEqual(['http://vllm-a:8000', 'https://vllm-b.internal/v1base', 'http://[::1]:9']);
    });

    it('names each bad entry by its place, on one line, without echoing it', () => {
      const message = hostError('http://ok:1,vllm:8000,http://user:hunter2@vllm:8000,,ftp://x');
      expect(message).toBe(
        'invalid configuration: SGP_INFERENCE_SERVICE_HOST: entry 2: an http:// or https:// URL; ' +
          'entry 3: a URL without credentials (use SGP_API_USERNAME and SGP_API_PASSWORD); ' +
          'entry 4: empty; entry 5: an http:// or https:// URL',
      );
      expect(message).not.toContain('hunter2');
    });

    it('refuses the same upstream twice, however it is spelled', () => {
      expect(hostError('http://vllm:8000,http://b:1,HTTP://VLLM:8000/')).toBe(
        'invalid configuration: SGP_INFERENCE_SERVICE_HOST: entry 3: the same upstream as entry 1',
      );
      expect(hostError('http://vllm,http://vllm:80')).toMatch(/entry 2: the same upstream as entry 1$/);
      // Another path on the same host is another upstream.
      expect(parseEnv({ SGP_INFERENCE_SERVICE_HOST: 'http://gw/a,http://gw/b' }).SGP_INFERENCE_SERVICE_HOST).toEqual([
        'http://gw/a',
        'http://gw/b',
      ]);
    });

    it('a single bad URL is reported without an entry number; a trailing comma is an empty entry', () => {
      expect(hostError('vllm:8000')).toBe(
        'invalid configuration: SGP_INFERENCE_SERVICE_HOST: an http:// or https:// URL',
      );
      expect(hostError('http://a:1,')).toBe('invalid configuration: SGP_INFERENCE_SERVICE_HOST: entry 2: empty');
      expect(hostError(',')).toBe('invalid configuration: SGP_INFERENCE_SERVICE_HOST: entry 1: empty; entry 2: empty');
    });
  });

  it('parses the retry count and the health interval', () => {
    const env = parseEnv({ SGP_UPSTREAM_RETRIES: '0', SGP_UPSTREAM_HEALTH_INTERVAL_SECONDS: '0.5' });
    expect(env.SGP_UPSTREAM_RETRIES).toBe(0);
    expect(env.SGP_UPSTREAM_HEALTH_INTERVAL_SECONDS).toBe(0.5);
  });
});
