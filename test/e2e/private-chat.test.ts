import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/reference-server/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR, IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { startEchoReference } from '../support/reference-upstream.js';
import { startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { forwardTo, startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';

/**
 * The whole product path with real parts: the official OpenAI SDK → proxy (real SGT in ONNX
 * Runtime) → a recording tap → reference server (decodes the embeddings it receives by
 * nearest-neighbour search, as a curious server would).
 */
interface Stack {
  sgt: Sgt;
  reference: RunningServer;
  tap: ScriptedUpstream;
  proxy: ProxyUnderTest;
  client: OpenAI;
  model: string;
}

async function startStack(sgtDir: string): Promise<Stack> {
  const sgt = await loadSgt(sgtDir);
  const reference = await startEchoReference(sgt);
  const tap = await startScriptedUpstream(forwardTo(reference.url));
  const proxy = await startProxy({ sgt, upstreamUrl: tap.url });
  const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'not-needed', maxRetries: 0 });
  return { sgt, reference, tap, proxy, client, model: sgt.metadata.baseModel };
}

async function stopStack(stack: Stack | undefined): Promise<void> {
  if (!stack) return;
  await stack.proxy.close();
  await stack.tap.close();
  await stack.reference.close();
  await stack.sgt.close();
}

const PROMPT = 'Tell me about the lighthouse keeper named Bartholomew';

describe('identity transform (noise scale 0): the embeddings path is lossless', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(IDENTITY_SGT_DIR);
  });
  afterAll(() => stopStack(stack));

  it('non-stream: the echo answer contains the prompt text', async () => {
    const completion = await stack.client.chat.completions.create({
      model: stack.model,
      messages: [{ role: 'user', content: PROMPT }],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]!.message.content).toContain(PROMPT);
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(5);
  });

  it('stream: the SDK assembles the same answer from chunks', async () => {
    const stream = await stack.client.chat.completions.create({
      model: stack.model,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: PROMPT },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toContain(PROMPT);
    expect(text).toContain('Be brief.');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });
});

describe('demo SGT: the server cannot read the prompt', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(DEMO_SGT_DIR);
  });
  afterAll(() => stopStack(stack));

  it('the answer (what the server read) does not contain the prompt, and no request byte does', async () => {
    const canary = 'ZEBRA-CANARY-4417 Bartholomew';
    const completion = await stack.client.chat.completions.create({
      model: stack.model,
      messages: [{ role: 'user', content: canary }],
    });
    const reading = completion.choices[0]!.message.content ?? '';
    expect(reading).toMatch(/received \d+ prompt embeddings/);
    expect(reading).not.toContain('Bartholomew');
    expect(reading).not.toContain('ZEBRA');
    const wire = Buffer.concat(stack.tap.requests.map((r) => r.raw)).toString('latin1');
    expect(stack.tap.requests.length).toBeGreaterThan(0);
    expect(wire).not.toContain('ZEBRA');
    expect(wire).not.toContain('Bartholomew');
  });

  it('the OpenAI SDK raises when the stream ends with an error event', async () => {
    const broken = await startScriptedUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        `data: ${JSON.stringify({ id: 'c', created: 1, model: 'm', choices: [{ index: 0, text: 'partial', finish_reason: null }] })}\n\n`,
      );
    });
    const proxy = await startProxy({ sgt: stack.sgt, upstreamUrl: broken.url });
    try {
      const client = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: 'm',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      });
      const consume = async (): Promise<string> => {
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        return text;
      };
      await expect(consume()).rejects.toThrow(/incomplete/);
    } finally {
      await proxy.close();
      await broken.close();
    }
  });
});
