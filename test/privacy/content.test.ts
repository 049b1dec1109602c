import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuditInputError,
  defaultAuditPrompts,
  labelPrompt,
  readAuditPrompts,
  secretsOf,
} from '../../src/privacy/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let sgt: Sgt;
beforeAll(async () => {
  sgt = await loadSgt(DEMO_SGT_DIR);
});
afterAll(async () => {
  await sgt.close();
});

const decodeWhere = (ids: number[], mask: boolean[], want: boolean): string =>
  sgt.decode(ids.filter((_, t) => mask[t] === want));

describe('content labels', () => {
  it("separates the message contents from the chat template's own tokens", () => {
    const p = labelPrompt(sgt, {
      id: 't',
      secrets: [],
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello world' },
      ],
    });
    expect(decodeWhere(p.ids, p.content, true)).toBe('Be brief.Hello world');
    expect(decodeWhere(p.ids, p.content, false)).toBe(
      '<|im_start|>system\n<|im_end|>\n<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(sgt.decode(p.ids.slice(0, p.knownPrefix))).toBe('<|im_start|>system\n');
  });

  it('multi-byte characters split over tokens belong to the content; secrets map to their tokens', () => {
    const p = labelPrompt(sgt, {
      id: 't',
      secrets: ['Tomás Álvarez'],
      messages: [{ role: 'user', content: '写信给 Tomás Álvarez: 🙂 alice@example.com' }],
    });
    expect(decodeWhere(p.ids, p.content, true)).toBe('写信给 Tomás Álvarez: 🙂 alice@example.com');
    const texts = p.secrets.map((s) => s.text).sort();
    expect(texts).toEqual(['Tomás Álvarez', 'alice@example.com']);
    for (const secret of p.secrets)
      expect(sgt.decode(secret.positions.map((t) => p.ids[t] as number)).trim()).toContain(secret.text);
  });

  it('finds e-mail addresses and runs of 3+ digits as secrets, beside the listed ones', () => {
    const found = secretsOf({
      id: 'x',
      secrets: ['Li Wei'],
      messages: [{ role: 'user', content: 'Li Wei, li.wei@example.org, passport E12345678, room 12, card 4111 1111.' }],
    });
    expect(found.sort()).toEqual(['12345678', '4111 1111', 'Li Wei', 'li.wei@example.org'].sort());
  });

  it('the shipped prompt set has 58 prompts and its listed secrets are all in them', () => {
    const prompts = defaultAuditPrompts();
    expect(prompts).toHaveLength(58);
    for (const p of prompts)
      for (const s of p.secrets)
        expect(
          p.messages.some((m) => m.content.includes(s)),
          `${p.id}: ${s}`,
        ).toBe(true);
  });

  it('a prompts file that is missing, not JSON, or malformed is an AuditInputError naming the problem', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sgp-audit-'));
    const write = (name: string, text: string): string => (writeFileSync(join(dir, name), text), join(dir, name));
    await expect(readAuditPrompts(join(dir, 'missing.json'))).rejects.toThrow(/cannot read the prompts file .*ENOENT/);
    await expect(readAuditPrompts(write('bad.json', '{'))).rejects.toThrow(/is not JSON/);
    await expect(readAuditPrompts(write('empty.json', '[]'))).rejects.toThrow(AuditInputError);
    await expect(
      readAuditPrompts(write('role.json', '[{"id":"a","messages":[{"role":"robot","content":"x"}]}]')),
    ).rejects.toThrow(/0\.messages\.0\.role/);
    await expect(
      readAuditPrompts(write('ok.json', '[{"id":"a","messages":[{"role":"user","content":"x"}]}]')),
    ).resolves.toHaveLength(1);
  });
});
