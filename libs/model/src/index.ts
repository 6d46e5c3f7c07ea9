export * from './batch-tensors';
export * from './execution-providers';
export * from './model-dir.errors';
export * from './model-info';
export * from './onnx-classifier';
export * from './softmax';
