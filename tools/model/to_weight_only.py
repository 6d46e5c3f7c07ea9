#!/usr/bin/env python3
"""Convert a committed model directory to weight-only int8 (fp32 compute) and refresh its fixtures.

  .venv-model/bin/python tools/model/to_weight_only.py models/minilm-spam test/fixtures/model/minilm-spam
  python tools/model/to_weight_only.py my-model/        (any model directory; no fixtures)

- model.onnx from onnxruntime's quantize_dynamic (MatMulInteger / DynamicQuantizeLinear, int8
  Gather tables): the same int8 weights and scales are kept; only activations stop being
  quantized, so every MatMul runs in fp32 and a row's logits no longer depend on its batch.
- an fp32 model.onnx: quantized per output channel (tools/model/weight_only_int8.py).
- fixtures.json: the same texts, ids re-checked against tokenizer.json (HF tokenizers), logits
  recomputed one text at a time with Python onnxruntime on the converted file.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import weight_only_int8  # noqa: E402


def main():
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    if len(sys.argv) not in (2, 3):
        sys.exit("usage: to_weight_only.py MODEL_DIR [FIXTURES_DIR]")
    model_dir = Path(sys.argv[1])
    fixtures_dir = Path(sys.argv[2]) if len(sys.argv) == 3 else None
    path = model_dir / "model.onnx"
    m = onnx.load(str(path))
    ops = {n.op_type for n in m.graph.node}
    if "MatMulInteger" in ops:
        converted = weight_only_int8.dequantize_dynamic_graph(m)
        how = "dequantized the dynamic-int8 graph (same int8 weights)"
    elif "Cast" in ops and any(i.data_type == onnx.TensorProto.INT8 for i in m.graph.initializer):
        converted = m
        how = "already weight-only int8"
    else:
        converted = weight_only_int8.quantize_fp32_graph(m)
        how = "quantized the fp32 graph per output channel"
    onnx.save(converted, str(path))
    kernels = weight_only_int8.optimized_ops(str(path), "/tmp/to_weight_only.opt.onnx")
    assert not {"MatMulInteger", "DynamicQuantizeLinear", "MatMulIntegerToFloat",
                "DynamicQuantizeMatMul", "QLinearMatMul"} & set(kernels), kernels
    print(f"{path}: {how}; {path.stat().st_size:,} bytes; kernels run: {kernels}")

    cfg_path = model_dir / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.setdefault("onnx", {})["form"] = "int8-weights"
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")

    if fixtures_dir is None:
        return
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    fx_path = fixtures_dir / "fixtures.json"
    doc = json.loads(fx_path.read_text(encoding="utf-8"))
    worst = 0.0
    for item in doc["items"]:
        e = tok.encode(item["text"], add_special_tokens=True)
        assert e.ids == item["input_ids"], item["text"][:60]
        ids = np.array([e.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        lg = sess.run(["logits"], {k: v for k, v in feed.items() if k in names})[0][0]
        worst = max(worst, float(np.abs(lg - np.array(item["logits"])).max()))
        item["logits"] = [float(x) for x in lg]
    fx_path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{fx_path}: {len(doc['items'])} fixtures rewritten; largest logit change vs before {worst:.3f}")


if __name__ == "__main__":
    main()
