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

export const RESPONSES_REQUEST_EXAMPLE = {
  instructions: 'You are a helpful assistant.',
  input: 'Say hello in five words.',
  max_output_tokens: 32,
};

export const RESPONSES_STREAM_REQUEST_EXAMPLE = { ...RESPONSES_REQUEST_EXAMPLE, stream: true };

export const RESPONSE_EXAMPLE = {
  id: 'resp_6f1c0e0a8b0e4c1e9d8a2f0d3c5b7a91',
  object: 'response',
  created_at: 1741570283,
  status: 'completed',
  completed_at: 1741570284,
  error: null,
  incomplete_details: null,
  model: 'base-model',
  instructions: 'You are a helpful assistant.',
  output: [
    {
      type: 'message',
      id: 'msg_0d6c2b1a9f8e4d7c8b6a5f4e3d2c1b0a',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: 'Hello there, nice to meet!', annotations: [], logprobs: [] }],
    },
  ],
  tools: [],
  tool_choice: 'auto',
  parallel_tool_calls: true,
  temperature: null,
  top_p: null,
  max_output_tokens: 32,
  top_logprobs: null,
  metadata: null,
  text: { format: { type: 'text' } },
  store: false,
  truncation: 'disabled',
  previous_response_id: null,
  usage: {
    input_tokens: 27,
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens: 6,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 33,
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
