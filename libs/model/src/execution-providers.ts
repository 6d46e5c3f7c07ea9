import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { InferenceDevice } from '@app/config';

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';

/**
 * Providers to try for INFERENCE_DEVICE, best first; CPU always ends the list. `auto` skips
 * WebGPU: onnxruntime-node's bundled Dawn finds no adapter on a headless server ("Failed to get
 * a WebGPU adapter"), so there it would only add a failed attempt to every boot.
 */
export function providerCandidates(device: InferenceDevice): ExecutionProvider[] {
  switch (device) {
    case 'cpu':
      return ['cpu'];
    case 'cuda':
      return ['cuda', 'cpu'];
    case 'webgpu':
      return ['webgpu', 'cpu'];
    case 'auto':
      return ['cuda', 'cpu'];
  }
}

/**
 * Whether CUDA can be tried quietly: onnxruntime-node has its CUDA provider libraries (cuda and
 * shared) next to its binding, and, on Linux, an NVIDIA driver is loaded. The libraries are not
 * bundled (docs/gpu.md), and trying CUDA without them, or on a host without a GPU, makes
 * onnxruntime print a red error line. undefined: the binding folder is not where expected; just try.
 */
export function cudaProviderInstalled(): boolean | undefined {
  if (process.platform === 'linux' && !existsSync('/proc/driver/nvidia/version')) return false;
  let bindingDir: string;
  try {
    bindingDir = join(
      dirname(require.resolve('onnxruntime-node/package.json')),
      'bin',
      'napi-v6',
      process.platform,
      process.arch,
    );
  } catch {
    return undefined;
  }
  if (!existsSync(bindingDir)) return undefined;
  const files = readdirSync(bindingDir);
  const has = (name: string) => files.some((file) => file === `lib${name}.so` || file === `${name}.dll`);
  return has('onnxruntime_providers_cuda') && has('onnxruntime_providers_shared');
}
