/**
 * Stained Glass Transform (SGT): load an artifact (docs/sgt-artifact.md), template + tokenize prompts,
 * obfuscate their embeddings in ONNX Runtime, and run the nearest-neighbour reconstruction attack.
 */
export type {
  BatchPadding, ChatMessage, ChatRole, LoadSgtOptions, Sgt, SgtDevice, SgtMetadata, SpecialTokensInContent, TransformOptions, TransformResult, TransformTiming,
} from './types.js';
export { PromptTooLongError, SgtArtifactError, SgtDeviceUnavailableError, SgtInputError, SgtOverloadedError } from './errors.js';
export { BATCHING_DEFAULTS, defaultMaxBatchTokens, loadSgt } from './sgt.js';
export { DEMO_BUILDER_VERSION, DEMO_DEFAULTS, buildDemoSgt, defaultDemoNoiseScale, ensureDemoSgt, type BuildDemoOptions } from './demo.js';
export { GaussianStream, fillGaussian, gaussianNoise } from './seeded-normal.js';
export { NOISE_MODES, NoiseKeys, PromptNoise, noiseFor, randomNoiseKey, type NoiseKey, type NoiseMode } from './noise/index.js';
export { obfuscationScore } from './reconstruct.js';
export { MatMul } from './matmul.js';
export { ARTIFACT_FORMAT } from './artifact.js';
export { readSafetensorsFloat, readSafetensorsHeader, writeSafetensors } from './safetensors.js';
