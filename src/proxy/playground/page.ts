import { createHash } from 'node:crypto';
import { createSseParser } from './sse-parser.js';

/**
 * The playground at `/`: one self-contained page (inline CSS and JS, no external asset) that streams
 * a chat completion through the proxy and shows, beside the answer, what the inference server
 * received, read back by the nearest-neighbour attack of `/v1/stainedglass`. It holds no secret:
 * with SGP_API_KEY set it only asks for the key, which stays in the page.
 */

const STYLE = String.raw`
:root { color-scheme: light; --ink: #1d2330; --muted: #5b6475; --line: #d9dee8; --accent: #2454d6; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #f4f6fa; }
header { padding: 14px 24px 10px; background: #141a26; color: #eef1f7; }
header h1 { margin: 0; font-size: 20px; font-weight: 650; }
header h1 span { color: #8fb0ff; font-weight: 500; }
header p { margin: 4px 0 0; max-width: 1100px; color: #c3cad8; font-size: 14px; }
main { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; padding: 16px 24px; }
form { grid-column: 1 / -1; display: grid; grid-template-columns: 1fr auto; gap: 8px 12px; align-items: end; }
form label { grid-column: 1 / -1; font-weight: 600; font-size: 13px; color: var(--muted); }
textarea, input { width: 100%; font: inherit; padding: 8px 10px; border: 1px solid var(--line); border-radius: 8px; background: #fff; color: var(--ink); }
textarea { resize: vertical; min-height: 64px; }
.key { grid-column: 1 / -1; }
button { font: inherit; font-weight: 600; padding: 10px 22px; border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer; }
button:disabled { opacity: 0.6; cursor: progress; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px 16px; min-height: 320px; min-width: 0; }
.panel h2 { margin: 0 0 8px; font-size: 16px; display: flex; gap: 8px; align-items: baseline; }
.panel h2 small { font-weight: 400; color: var(--muted); font-size: 13px; }
.panel h3 { margin: 12px 0 6px; font-size: 13px; color: var(--muted); font-weight: 600; }
.state { margin-left: auto; font-size: 12px; font-weight: 400; color: var(--muted); }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.server { background: #fbfaf4; border-color: #e4dcbc; }
#tokens { display: flex; flex-wrap: wrap; gap: 3px; }
.tok { font: 12px/1.6 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre; padding: 0 4px; border: 1px solid #d8cfa8; border-radius: 4px; background: #fff; min-width: 10px; }
#reading { font: 13px/1.5 ui-monospace, "DejaVu Sans Mono", monospace; padding: 8px 10px; background: #fff; border: 1px dashed #d8cfa8; border-radius: 6px; min-height: 3em; }
#score { margin: 10px 0 0; font-weight: 600; }
.error { color: var(--bad); }
footer { padding: 0 24px 16px; color: var(--muted); font-size: 13px; }
footer a { color: var(--accent); }
@media (max-width: 800px) { main { grid-template-columns: 1fr; } }
`;

// Plain browser JavaScript. No template literals here: this is one inside the TypeScript source.
const SCRIPT = String.raw`
const $ = (id) => document.getElementById(id);
// A copy of this page served from another origin names the proxy it calls (which must list that origin in SGP_CORS_ORIGINS).
const configured = document.querySelector('meta[name="sgp-proxy-url"]');
const base = configured ? configured.content.replace(/\/+$/, '') : '';
const promptBox = $('prompt');
const keyBox = $('key');
const answer = $('answer');
let current;

for (const link of document.querySelectorAll('a[data-path]')) link.href = base + link.dataset.path;
$('ask').addEventListener('submit', (event) => {
  event.preventDefault();
  run();
});
promptBox.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    run();
  }
});

function requestHeaders() {
  const headers = { 'content-type': 'application/json' };
  const key = keyBox ? keyBox.value.trim() : '';
  if (key) headers.authorization = 'Bearer ' + key;
  return headers;
}

async function post(path, body, signal) {
  try {
    return await fetch(base + path, { method: 'POST', headers: requestHeaders(), body: JSON.stringify(body), signal });
  } catch (err) {
    if (signal.aborted || !(err instanceof TypeError)) throw err;
    // The browser says no more than this: an unreachable proxy and a refused origin look the same to a page.
    throw new Error(err.message + ': the proxy is unreachable, or does not allow this page\'s origin (SGP_CORS_ORIGINS).');
  }
}

async function errorOf(response) {
  let message = response.statusText;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch {}
  return new Error('HTTP ' + response.status + ': ' + message);
}

function showError(element, state, err) {
  element.classList.add('error');
  element.textContent += (element.textContent ? '\n\n' : '') + (err && err.message ? err.message : String(err));
  $(state).textContent = 'failed';
}

async function run() {
  const text = promptBox.value.trim();
  if (!text) return promptBox.focus();
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;
  document.body.dataset.state = 'running';
  const messages = [{ role: 'user', content: text }];
  await Promise.allSettled([streamAnswer(messages, controller.signal), showServerView(messages, controller.signal)]);
  if (current === controller) document.body.dataset.state = 'done';
}

async function streamAnswer(messages, signal) {
  answer.textContent = '';
  answer.classList.remove('error');
  answer.dataset.chunks = '0';
  $('answer-state').textContent = 'waiting for the first token…';
  try {
    const response = await post('/v1/chat/completions', { messages, stream: true }, signal);
    if (!response.ok) throw await errorOf(response);
    let chunks = 0;
    let done = false;
    let failure;
    const parser = createSseParser((data) => {
      if (data === '[DONE]') return void (done = true);
      const event = JSON.parse(data);
      if (event.error) return void (failure = new Error(event.error.message));
      const delta = event.choices && event.choices[0] && event.choices[0].delta;
      if (!delta || !delta.content) return;
      answer.textContent += delta.content;
      answer.dataset.chunks = String(++chunks);
      $('answer-state').textContent = 'streaming… ' + chunks + ' chunks';
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      parser.push(value);
    }
    if (failure) throw failure;
    if (!done) throw new Error('The stream ended before [DONE].');
    $('answer-state').textContent = 'done, ' + chunks + ' chunks';
  } catch (err) {
    if (!signal.aborted) showError(answer, 'answer-state', err);
  }
}

function visibleToken(token) {
  return token.replace(/\n/g, '⏎').replace(/\t/g, '⇥');
}

async function showServerView(messages, signal) {
  const tokens = $('tokens');
  const reading = $('reading');
  tokens.replaceChildren();
  reading.textContent = '';
  reading.classList.remove('error');
  $('score').textContent = '';
  $('view-state').textContent = 'running the transform…';
  try {
    const body = { messages, return_reconstructed_prompt: true, return_obfuscation_score: true };
    const response = await post('/v1/stainedglass', body, signal);
    if (!response.ok) throw await errorOf(response);
    const view = await response.json();
    for (const token of view.tokenized_plain_text) {
      const chip = document.createElement('span');
      chip.className = 'tok';
      chip.textContent = visibleToken(token);
      tokens.append(chip);
    }
    reading.textContent = view.reconstructed_prompt;
    const total = view.tokenized_plain_text.length;
    const recovered = total - Math.round(view.obfuscation_score * total);
    $('score').textContent =
      'The attack recovered ' + recovered + ' of ' + total + ' tokens (obfuscation score ' + view.obfuscation_score.toFixed(2) + ').';
    $('view-state').textContent = total + ' embeddings';
  } catch (err) {
    if (!signal.aborted) showError(reading, 'view-state', err);
  }
}
`;

const KEY_FIELD = `<label class="key" for="key">API key (this proxy has SGP_API_KEY set; the key stays in this page)</label>
    <input class="key" id="key" type="password" autocomplete="off" spellcheck="false" placeholder="the proxy's API key" required>`;

const EXAMPLE_PROMPT =
  'My name is Alice Martin and my card number is 4111 1111 1111 1111. Write me a short poem about it.';

export interface PlaygroundPage {
  html: string;
  /** Only this page's own script and style run, and it talks only to the proxy. */
  contentSecurityPolicy: string;
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

export function playgroundPage(options: { apiKeyRequired: boolean }): PlaygroundPage {
  const script = `"use strict";\nconst createSseParser = ${createSseParser.toString()};\n${SCRIPT}`;
  const html = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>sgt-proxy playground</title>
  <link rel="icon" href="data:,">
  <style>${STYLE}</style>
</head>
<body data-state="idle">
<header>
  <h1>sgt-proxy <span>playground</span></h1>
  <p>Your prompt leaves this proxy only as embeddings obfuscated by the Stained Glass Transform. Left: the answer, streamed back through the proxy. Right: what the inference server received, read back by a nearest-neighbour attack on its embedding table.</p>
</header>
<main>
  <form id="ask">
    <label for="prompt">Prompt (Ctrl+Enter sends)</label>
    <textarea id="prompt" rows="3" spellcheck="false">${EXAMPLE_PROMPT}</textarea>
    <button id="send" type="submit">Send</button>
    ${options.apiKeyRequired ? KEY_FIELD : ''}
  </form>
  <section class="panel" aria-labelledby="answer-title">
    <h2 id="answer-title">Answer <small>streamed through the proxy</small><span id="answer-state" class="state"></span></h2>
    <div id="answer" class="text" aria-live="polite"></div>
  </section>
  <section class="panel server" aria-labelledby="view-title">
    <h2 id="view-title">What the inference server received <span id="view-state" class="state"></span></h2>
    <h3>Your prompt, one embedding per token (chat template included)</h3>
    <div id="tokens"></div>
    <h3>The server's reading: the nearest vocabulary token to each embedding it got</h3>
    <div id="reading"></div>
    <p id="score"></p>
  </section>
</main>
<footer>The answer comes from the proxy's upstream: with no configuration, the embedded reference server, which is no LLM and answers with what it could read from the embeddings. API: <a data-path="/docs" href="/docs">/docs</a> · <a data-path="/openapi.json" href="/openapi.json">/openapi.json</a></footer>
<script>${script}</script>
</body>
</html>
`;
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(STYLE)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, contentSecurityPolicy };
}
