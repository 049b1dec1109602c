import type { EmbedsDtype } from '../embeds/index.js';
import { ClientClosedError, InvalidRequestError, OverloadedError } from '../errors/index.js';
import {
  PromptTooLongError,
  SgtInputError,
  SgtOverloadedError,
  type ChatMessage,
  type ChatTemplateInput,
  type NoiseKeys,
  type NoiseMode,
  type Sgt,
  type SpecialTokensInContent,
  type TransformResult,
  type TransformTiming,
} from '../sgt/index.js';

export interface EmbeddedPrompt {
  /** base64 torch.save file, the `prompt_embeds` of vLLM's completions API, as ASCII bytes. */
  promptEmbeds: Uint8Array;
  tokens: number;
  /** Its batch and where the time went (telemetry). */
  timing?: TransformTiming;
}

/**
 * Chat messages → obfuscated `prompt_embeds`. The plaintext stops here: only the transformed
 * embeddings leave this function.
 */
export class PromptEmbedder {
  constructor(
    private readonly sgt: Sgt,
    private readonly dtype: EmbedsDtype,
    private readonly noiseKeys: NoiseKeys,
    private readonly noiseMode: NoiseMode,
    private readonly specialTokensInContent: SpecialTokensInContent = 'text',
  ) {}

  /** The `prompt_embeds` of a chat, encoded where the transform ran (a worker thread, when the SGT has them). */
  async embed(
    messages: ChatMessage[],
    seed: number | null | undefined,
    signal?: AbortSignal,
    template?: ChatTemplateInput,
  ): Promise<EmbeddedPrompt> {
    return embedded(await this.transform(messages, seed, signal, this.dtype, template));
  }

  /**
   * The `prompt_embeds` of a raw completions prompt (no chat template, as vLLM's /v1/completions
   * reads it); its errors name `prompt`.
   */
  async embedPrompt(text: string, seed: number | null | undefined, signal?: AbortSignal): Promise<EmbeddedPrompt> {
    const tokenize = () => this.sgt.tokenizePromptOffThread(text);
    return embedded(await this.run(tokenize, 'prompt', seed, signal, this.dtype));
  }

  /**
   * Template, tokenize and transform, off the event loop when the SGT has worker threads. The SGT's
   * input errors become 400s naming `messages`, a full queue a 503 with Retry-After, and a client
   * gone before its batch ran is dropped from it.
   */
  async transform(
    messages: ChatMessage[],
    seed: number | null | undefined,
    signal?: AbortSignal,
    encode?: EmbedsDtype,
    template?: ChatTemplateInput,
  ): Promise<{ ids: number[]; result: TransformResult }> {
    const tokenize = () =>
      this.sgt.tokenizeChatOffThread(messages, {
        specialTokensInContent: this.specialTokensInContent,
        ...(template ? { template } : {}),
      });
    return this.run(tokenize, 'messages', seed, signal, encode);
  }

  private async run(
    tokenize: () => Promise<number[]>,
    param: string,
    seed: number | null | undefined,
    signal: AbortSignal | undefined,
    encode: EmbedsDtype | undefined,
  ): Promise<{ ids: number[]; result: TransformResult }> {
    try {
      const ids = await tokenize();
      if (signal?.aborted) throw new ClientClosedError();
      const noise = this.noiseKeys.forRequest(this.noiseMode, seed);
      const result = await this.sgt.transform(ids, {
        noise,
        ...(signal ? { signal } : {}),
        ...(encode ? { encode } : {}),
      });
      return { ids, result };
    } catch (err) {
      if (signal?.aborted) throw new ClientClosedError();
      if (err instanceof SgtOverloadedError) throw new OverloadedError(`${err.message}.`, err.retryAfterSeconds);
      if (err instanceof PromptTooLongError) {
        throw new InvalidRequestError(err.message, { param, code: 'context_length_exceeded' });
      }
      if (err instanceof SgtInputError) throw new InvalidRequestError(err.message, { param, code: 'invalid_value' });
      throw err;
    }
  }
}

/** TransformOptions.encode was set: the result carries its encoding. */
function embedded({ result }: { result: TransformResult }): EmbeddedPrompt {
  return {
    promptEmbeds: result.promptEmbeds as Uint8Array,
    tokens: result.tokens,
    ...(result.timing ? { timing: result.timing } : {}),
  };
}
