/**
 * Stained Glass Transform (SGT): load an artifact (docs/sgt-artifact.md), template + tokenize prompts,
 * obfuscate their embeddings in ONNX Runtime, and run the nearest-neighbour reconstruction attack.
 */
export type {
  BatchPadding,
  ChatMessage,
  ChatTemplateInput,
  LoadSgtOptions,
  Sgt,
  SpecialTokensInContent,
  TransformResult,
  TransformTiming,
} from './types.js';
export {
  PromptTooLongError,
  SgtArtifactError,
  SgtDeviceUnavailableError,
  SgtInputError,
  SgtOverloadedError,
} from './errors.js';
export { loadSgt } from './sgt.js';
export {
  DEMO_DEFAULTS,
  buildDemoSgt,
  defaultDemoNoiseScale,
  ensureDemoSgt,
  type BuildDemoOptions,
} from './demo/index.js';
export { GaussianStream, fillGaussian, gaussianNoise } from './seeded-normal.js';
export {
  NOISE_MODES,
  NoiseKeys,
  PromptNoise,
  noiseFor,
  randomNoiseKey,
  type NoiseKey,
  type NoiseMode,
} from './noise/index.js';
export { obfuscationScore } from './reconstruct.js';
export { MatMul } from './matmul.js';

export { readSafetensorsFloat, readSafetensorsHeader, writeSafetensors } from './safetensors.js';
