/**
 * The examples /openapi.json shows, and the request bodies Swagger UI's "Try it out" sends: each
 * request example is a valid request (test/proxy/openapi-examples.test.ts posts them). No `model`:
 * it defaults to the SGT's base model, the one model the upstream is sure to serve.
 */

export const CHAT_REQUEST_EXAMPLE = {
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'Say hello in five words.' },
  ],
  max_tokens: 32,
};

export const CHAT_STREAM_REQUEST_EXAMPLE = {
  ...CHAT_REQUEST_EXAMPLE,
  stream: true,
  stream_options: { include_usage: true },
};

export const STAINED_GLASS_REQUEST_EXAMPLE = {
  messages: [{ role: 'user', content: 'My card number is 4111 1111 1111 1111.' }],
  return_reconstructed_prompt: true,
  return_obfuscation_score: true,
};

const USAGE_EXAMPLE = { prompt_tokens: 27, completion_tokens: 6, total_tokens: 33 };

export const CHAT_COMPLETION_EXAMPLE = {
  id: 'chatcmpl-6f1c0e0a-8b0e-4c1e-9d8a-2f0d3c5b7a91',
  object: 'chat.completion',
  created: 1741570283,
  model: 'base-model',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Hello there, nice to meet!', refusal: null },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: USAGE_EXAMPLE,
};

export const CHAT_COMPLETION_CHUNK_EXAMPLE = {
  id: 'chatcmpl-6f1c0e0a-8b0e-4c1e-9d8a-2f0d3c5b7a91',
  object: 'chat.completion.chunk',
  created: 1741570283,
  model: 'base-model',
  choices: [{ index: 0, delta: { content: 'Hello' }, logprobs: null, finish_reason: null }],
};

export const MODEL_LIST_EXAMPLE = {
  object: 'list',
  data: [{ id: 'base-model', object: 'model', created: 1741570283, owned_by: 'vllm' }],
};

export const STAINED_GLASS_RESPONSE_EXAMPLE = {
  tokenized_plain_text: ['<|im_start|>', 'user', '\n', 'My', ' card', ' number', ' is', ' ', '4', '1', '1', '1'],
  reconstructed_prompt: '<|im_start|> Rewrite trough hashtags ...',
  obfuscation_score: 0.94,
};

export const ERROR_EXAMPLE = {
  error: {
    message: "Invalid value for 'messages': Too small: expected array to have >=1 items",
    type: 'invalid_request_error',
    param: 'messages',
    code: 'invalid_value',
  },
};

export const COMPLETION_REQUEST_EXAMPLE = {
  prompt: 'The three primary colours are',
  max_tokens: 16,
};

export const COMPLETION_STREAM_REQUEST_EXAMPLE = {
  ...COMPLETION_REQUEST_EXAMPLE,
  stream: true,
  stream_options: { include_usage: true },
};

export const COMPLETION_EXAMPLE = {
  id: 'cmpl-0b6a4a3e-2a61-4c55-9a3c-6f8f0c1d2e3f',
  object: 'text_completion',
  created: 1741570283,
  model: 'base-model',
  choices: [{ index: 0, text: ' red, yellow and blue.', logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 6, completion_tokens: 6, total_tokens: 12 },
};
