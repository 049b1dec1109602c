import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/index.js';
import { createLogger, readLoggingConfig } from '../../src/logging/index.js';

function memoryDestination(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

function writeYaml(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sgp-log-')), 'logging.yaml');
  writeFileSync(file, text);
  return file;
}

describe('logging', () => {
  it('reads level, per-module levels and destination from YAML', () => {
    const config = readLoggingConfig(writeYaml('level: warn\nmodules:\n  upstream: debug\ndestination: stderr\n'));
    expect(config).toEqual({ level: 'warn', modules: { upstream: 'debug' }, destination: 'stderr', redact: [] });
  });

  it('rejects an unknown level with a line naming the file and the key', () => {
    const file = writeYaml('level: loud\n');
    expect(() => readLoggingConfig(file)).toThrow(ConfigError);
    expect(() => readLoggingConfig(file)).toThrow(/SGP_LOGGING_CONFIG_FILE: .*level/);
  });

  it('rejects a missing file', () => {
    expect(() => readLoggingConfig('/nonexistent/logging.yaml')).toThrow(/cannot read/);
  });

  it('an unwritable destination stops start-up instead of dropping every line', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sgp-log-')), 'a-file');
    writeFileSync(file, '');
    // Its parent is a file: the directory cannot be made, the file cannot be opened.
    expect(() => createLogger({ level: 'info', modules: {}, destination: join(file, 'x.log'), redact: [] })).toThrow(
      /SGP_LOGGING_CONFIG_FILE: destination/,
    );
  });

  it('applies per-module levels', () => {
    const out = memoryDestination();
    const root = createLogger(
      { level: 'warn', modules: { upstream: 'debug' }, destination: 'stdout', redact: [] },
      out.stream,
    );
    root.forModule('upstream').debug('visible');
    root.forModule('proxy').info('hidden');
    root.forModule('proxy').warn('visible too');
    expect(out.lines().map((l) => l.msg)).toEqual(['visible', 'visible too']);
  });

  it('redacts secrets and prompts even when a call site logs them by mistake', () => {
    const out = memoryDestination();
    const root = createLogger({ level: 'info', modules: {}, destination: 'stdout', redact: [] }, out.stream);
    root.logger.info(
      { headers: { authorization: 'Bearer sk-secret' }, messages: [{ content: 'my canary prompt' }] },
      'oops',
    );
    const text = JSON.stringify(out.lines());
    expect(text).not.toContain('sk-secret');
    expect(text).not.toContain('my canary prompt');
    expect(text).toContain('[redacted]');
  });
});
