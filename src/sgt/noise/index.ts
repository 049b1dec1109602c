/** The transform's noise (keyed AES-CTR keystream, prefix-derived or fresh) and its ziggurat. */
export {
  NOISE_MODES,
  NoiseKeys,
  PromptNoise,
  assertNoiseKey,
  noiseFor,
  randomNoiseKey,
  type NoiseKey,
  type NoiseMode,
} from './keyed.js';
export { normalsFromWords } from './ziggurat.js';
