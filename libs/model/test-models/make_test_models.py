#!/usr/bin/env python3
"""Writes the tiny ONNX graphs the @app/model unit tests run through real onnxruntime-node.

  .venv-model/bin/python libs/model/test-models/make_test_models.py

Each row's logits expose what the session was fed: [sum(input_ids * attention_mask),
sum(attention_mask)] plus, in the three-input graph, sum(token_type_ids). So a test can check
padding, masks and the inputs fed without a real model.
"""
from pathlib import Path

import onnx
from onnx import TensorProto, helper

HERE = Path(__file__).resolve().parent


def build(with_token_types: bool) -> onnx.ModelProto:
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if with_token_types else [])
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in names]
    width = len(names)
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", width])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Mul", ["input_ids", "attention_mask"], ["masked_ids"]),
        helper.make_node("ReduceSum", ["masked_ids", "axes"], ["id_sum"], keepdims=1),
        helper.make_node("ReduceSum", ["attention_mask", "axes"], ["mask_sum"], keepdims=1),
    ]
    sums = ["id_sum", "mask_sum"]
    if with_token_types:
        nodes.append(helper.make_node("ReduceSum", ["token_type_ids", "axes"], ["type_sum"], keepdims=1))
        sums.append("type_sum")
    nodes += [
        helper.make_node("Concat", sums, ["sums"], axis=1),
        helper.make_node("Cast", ["sums"], ["logits"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(nodes, "sums", inputs, [output], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_test_models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


onnx.save(build(True), HERE / "sums-3-inputs.onnx")
onnx.save(build(False), HERE / "sums-2-inputs.onnx")
print("wrote", HERE)
