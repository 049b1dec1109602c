/**
 * Stained Glass Transform (SGT): load an artifact (DESIGN.md §6), template + tokenize prompts,
 * obfuscate their embeddings in ONNX Runtime, and run the nearest-neighbour reconstruction attack.
 */
export type {
  ChatMessage, ChatRole, LoadSgtOptions, Sgt, SgtDevice, SgtMetadata, TransformOptions, TransformResult,
} from './types.js';
export { PromptTooLongError, SgtArtifactError, SgtDeviceUnavailableError, SgtInputError } from './errors.js';
export { loadSgt } from './sgt.js';
export { DEMO_BUILDER_VERSION, DEMO_DEFAULTS, buildDemoSgt, ensureDemoSgt, type BuildDemoOptions } from './demo.js';
export { fillGaussian, gaussianNoise, randomNoiseSeed } from './noise.js';
export { obfuscationScore } from './reconstruct.js';
export { ARTIFACT_FORMAT } from './artifact.js';
export { readSafetensorsFloat, readSafetensorsHeader, writeSafetensors } from './safetensors.js';
