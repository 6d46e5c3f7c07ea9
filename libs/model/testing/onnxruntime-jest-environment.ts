import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import NodeEnvironment from 'jest-environment-node';

// onnxruntime-node hands back outputs in this process's typed arrays, but Jest runs tests in a
// separate realm, so onnxruntime-common's `data instanceof Float32Array` fails ("A float32
// tensor's data must be type of function Float32Array()"). Sharing the constructors fixes it.
// Use from a spec file that runs a real session:  /** @jest-environment ./libs/model/testing/onnxruntime-jest-environment.ts */
const TYPED_ARRAYS = [
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Uint16Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

export default class OnnxruntimeJestEnvironment extends NodeEnvironment {
  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    const global = this.global as unknown as Record<string, unknown>;
    for (const name of TYPED_ARRAYS) global[name] = globalThis[name];
  }
}
