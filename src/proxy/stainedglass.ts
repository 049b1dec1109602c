import { InvalidRequestError } from '../errors/index.js';
import { obfuscationScore, type Sgt } from '../sgt/index.js';
import type { PromptEmbedder } from '../prompt/index.js';
import { toChatMessages, type StainedGlassRequest, type StainedGlassResponse } from './schemas.js';

// Embeddings go back as JSON numbers (~20 bytes each): past this many values a response would be
// hundreds of megabytes, so the request is refused instead of building it.
export const MAX_RETURNED_EMBEDDING_VALUES = 2_000_000;

/** `/v1/stainedglass`: the transform alone, and what the nearest-neighbour attack reads from it. */
export async function stainedGlass(
  sgt: Sgt,
  embedder: PromptEmbedder,
  request: StainedGlassRequest,
  signal: AbortSignal,
): Promise<StainedGlassResponse> {
  const { ids, result } = await embedder.transform(toChatMessages(request.messages), request.seed, signal);
  const wantsEmbeddings = request.return_plain_text_embeddings || request.return_transformed_embeddings;
  if (wantsEmbeddings && result.tokens * result.hidden > MAX_RETURNED_EMBEDDING_VALUES) {
    throw new InvalidRequestError(
      `The prompt has ${result.tokens} tokens × ${result.hidden} dimensions; returning embeddings is limited to ${MAX_RETURNED_EMBEDDING_VALUES} values.`,
      { param: 'messages', code: 'response_too_large' },
    );
  }
  const response: StainedGlassResponse = { tokenized_plain_text: await sgt.decodeOffThread(ids.map((id) => [id])) };
  if (request.return_plain_text_embeddings) {
    if (!result.plainEmbeds)
      throw new InvalidRequestError('This SGT artifact does not output plain embeddings.', {
        param: 'return_plain_text_embeddings',
      });
    response.plain_text_embeddings = rows(result.plainEmbeds, result.hidden);
  }
  if (request.return_transformed_embeddings) response.transformed_embeddings = rows(result.embeds, result.hidden);
  if (request.return_reconstructed_prompt || request.return_obfuscation_score) {
    const guessed = await sgt.nearestTokens(result.embeds, result.tokens);
    if (request.return_reconstructed_prompt) [response.reconstructed_prompt] = await sgt.decodeOffThread([guessed]);
    if (request.return_obfuscation_score) response.obfuscation_score = obfuscationScore(ids, guessed);
  }
  return response;
}

function rows(values: Float32Array, width: number): number[][] {
  const out: number[][] = [];
  for (let start = 0; start < values.length; start += width)
    out.push(Array.from(values.subarray(start, start + width)));
  return out;
}
