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
 * Whether onnxruntime-node has its CUDA provider library next to its binding. It is not bundled
 * (npm installs it only with ONNXRUNTIME_NODE_INSTALL=cuda12), and trying CUDA without it makes
 * onnxruntime print an error line. undefined: the binding folder is not where expected; just try.
 */
export function cudaProviderInstalled(): boolean | undefined {
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
  return readdirSync(bindingDir).some((file) => /onnxruntime_providers_cuda\.(so|dll)$/.test(file));
}
