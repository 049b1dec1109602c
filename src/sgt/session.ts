/**
 * ONNX Runtime sessions: options sized for small machines, the CUDA execution provider on request,
 * and a clear error when this onnxruntime-node install has no CUDA binaries.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { SgtDeviceUnavailableError } from './errors.js';
import type { SgtDevice } from './types.js';

export interface SessionSettings {
  readonly device: SgtDevice;
  readonly intraOpThreads: number;
}

/**
 * Default intra-op threads: all cores up to 4 (beyond that, small graphs gain little), also when
 * the transform runs on a worker thread beside the event loop that relays streams. Leaving that
 * loop a core of its own was measured (`npm run bench:loop-lag`, 2 cores, real-size SGT): it made
 * TTFT p50 2.6–3× longer and bought the loop nothing (delay p99 28–32 ms with the core left free,
 * 25–27 ms without); the kernel runs the mostly idle relay thread as soon as it wakes.
 */
export function sessionSettings(device: SgtDevice = 'cpu', intraOpThreads?: number): SessionSettings {
  if (device !== 'cpu' && device !== 'cuda')
    throw new RangeError(`unknown device ${JSON.stringify(device)}; use "cpu" or "cuda"`);
  const threads = intraOpThreads ?? Math.max(1, Math.min(4, availableParallelism()));
  if (!Number.isSafeInteger(threads) || threads < 1)
    throw new RangeError(`intraOpThreads must be a positive integer, got ${threads}`);
  return { device, intraOpThreads: threads };
}

export const CUDA_INSTALL_HINT =
  'onnxruntime-node ships its CUDA execution provider as a separate download that its install script ' +
  'skips here; reinstall it with the CUDA 12 binaries: `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` ' +
  "(or `npm install --onnxruntime-node-install=cuda12`; needs network access to the NuGet feed, the package's " +
  'install script allowed to run, and CUDA 12 + cuDNN 9 on the machine), or set SGP_DEVICE=cpu';

export async function createSession(
  model: string | Uint8Array,
  settings: SessionSettings,
): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [settings.device],
    intraOpNumThreads: settings.intraOpThreads,
    // One graph at a time per session; the proxy batches requests instead of running graphs in parallel.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // ORT's intra-op threads busy-wait after each run by default. On a small machine they then take
    // the cores from the JS thread (tokenizing, noise, encoding) and from the next run: measured on
    // 2 cores, H 256 × T 512: 7 ms a run with spinning, 2.5 ms without; no loss at H 4096.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (error) {
    if (settings.device === 'cuda' && isMissingCudaProvider(error)) {
      throw new SgtDeviceUnavailableError(
        'cuda',
        `device "cuda" requested but ONNX Runtime's CUDA execution provider is not available (${firstLine(error)}). ${CUDA_INSTALL_HINT}`,
        { cause: error },
      );
    }
    throw error;
  }
}

function isMissingCudaProvider(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /cuda|providers_shared|execution provider|backend/i.test(message);
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // ORT appends its own coloured log line; keep the first, readable part.
  // eslint-disable-next-line no-control-regex -- ESC starts the ANSI colour sequence being cut off
  return (message.split(/\r?\n|\u001b\[/)[0] ?? message).trim();
}

export { ort };
