/**
 * Privacy measured by attacks (docs/privacy.md): the audit of an SGT artifact against what a
 * curious inference server can do with the embeddings it receives.
 */
export { DEFAULT_REGRESSION_TOKENS, DEFAULT_REPEATS, runAudit, type AuditOptions, type AuditReport } from './audit.js';
export { AuditInputError, defaultAuditPrompts, readAuditPrompts, secretsOf } from './prompts.js';
export { labelPrompt, type LabelledPrompt } from './content.js';
export { formatAuditTable } from './table.js';
export { linearNoise, recoverLinearState, recoverLinearStateFromWords, Xorshift128 } from './linear-generator.js';
