"""Weight-only int8 storage for ONNX graphs that still compute in fp32.

Why: onnxruntime's dynamic int8 quantization (DynamicQuantizeLinear + MatMulInteger) picks one
activation scale per *batch tensor*, so a text's logits depend on its batch companions, and the
integer kernels round differently on AVX2 and AVX-512 VNNI CPUs. Here only the *stored* weights
are int8: each large MatMul weight / Gather table becomes

    W_q (int8 initializer) -> Cast(float) -> Mul(per-channel scale) -> W (fp32)

Every input of that chain is a constant, so onnxruntime's constant folding turns it back into an
fp32 initializer when the session loads; every MatMul then runs in plain fp32 (check with
`optimized_ops()`). Scales are symmetric, per output channel (MatMul: per column of [K, N];
Gather: per row of [vocab, hidden]).

Two entry points:
  quantize_fp32_graph(model)      fp32 graph -> weight-only int8 graph
  dequantize_dynamic_graph(model) a quantize_dynamic() graph (MatMulInteger) -> the same fp32-compute
                                  form, reusing its existing int8 weights (no retraining)
"""
from __future__ import annotations

import numpy as np

MIN_ELEMENTS = 65_536  # smaller tensors (biases, LayerNorm, the classifier head) stay fp32


def _helpers():
    import onnx
    from onnx import helper, numpy_helper

    return onnx, helper, numpy_helper


def _add_dequant(graph, name: str, q: np.ndarray, scale: np.ndarray, zero_point=None):
    """Adds initializers name_q / name_scale and Cast->(Sub zp)->Mul nodes producing `name`."""
    onnx, helper, numpy_helper = _helpers()
    graph.initializer.append(numpy_helper.from_array(q if q.dtype in (np.int8, np.uint8) else q.astype(np.int8), f"{name}_i8"))
    graph.initializer.append(numpy_helper.from_array(scale.astype(np.float32), f"{name}_i8scale"))
    cast_out = f"{name}_i8_float"
    nodes = [helper.make_node("Cast", [f"{name}_i8"], [cast_out], to=onnx.TensorProto.FLOAT,
                              name=f"{name}_dequant_cast")]
    if zero_point is not None and np.any(zero_point != 0):
        graph.initializer.append(numpy_helper.from_array(zero_point.astype(np.float32), f"{name}_i8zp"))
        nodes.append(helper.make_node("Sub", [cast_out, f"{name}_i8zp"], [f"{cast_out}_c"],
                                      name=f"{name}_dequant_sub"))
        cast_out = f"{cast_out}_c"
    nodes.append(helper.make_node("Mul", [cast_out, f"{name}_i8scale"], [name],
                                  name=f"{name}_dequant_mul"))
    return nodes


def quantize_per_channel(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 along `axis` (the axis reduced over is every other one)."""
    reduce = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=reduce, keepdims=True)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def quantize_fp32_graph(model):
    """Returns a copy of an fp32 graph with large MatMul-B / Gather-data initializers in int8."""
    onnx, helper, numpy_helper = _helpers()
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    targets: dict[str, int] = {}  # initializer -> per-channel axis
    for node in g.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            targets.setdefault(node.input[1], 1)   # [K, N]: one scale per output column
        elif node.op_type == "Gather" and node.input[0] in inits:
            targets.setdefault(node.input[0], 0)   # [vocab, hidden]: one scale per row
    new_nodes = []
    for name, axis in targets.items():
        w = numpy_helper.to_array(inits[name])
        if w.dtype != np.float32 or w.ndim != 2 or w.size < MIN_ELEMENTS:
            continue
        q, scale = quantize_per_channel(w, axis)
        g.initializer.remove(inits[name])
        new_nodes += _add_dequant(g, name, q, scale)
    _prepend_nodes(g, new_nodes)
    onnx.checker.check_model(model)
    return model


def dequantize_dynamic_graph(model):
    """Rewrites DynamicQuantizeLinear/MatMulInteger (and DequantizeLinear-fed Gathers) graphs from
    onnxruntime.quantization.quantize_dynamic into fp32 MatMuls over dequantized int8 weights."""
    onnx, helper, numpy_helper = _helpers()
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    arr = lambda name: numpy_helper.to_array(inits[name])  # noqa: E731

    drop: set[int] = set()
    replace: dict[int, object] = {}
    added: list = []
    dequantized: set[str] = set()
    for node in list(g.node):
        if node.op_type != "MatMulInteger":
            continue
        a_q, w_q = node.input[0], node.input[1]
        w_zp = node.input[3] if len(node.input) > 3 else ""
        dql = producers[a_q]
        assert dql.op_type == "DynamicQuantizeLinear", dql.op_type
        a_float, a_scale = dql.input[0], dql.output[1]
        # MatMulInteger -> Cast -> Mul(a_scale * w_scale) is the pattern quantize_dynamic writes.
        (cast,) = consumers[node.output[0]]
        (mul,) = consumers[cast.output[0]]
        scale_in = [i for i in mul.input if i != cast.output[0]][0]
        scale_mul = producers[scale_in]
        w_scale = [i for i in scale_mul.input if i != a_scale][0]
        w_name = w_q[: -len("_quantized")] if w_q.endswith("_quantized") else w_q + "_deq"
        if w_name not in dequantized:
            scale = arr(w_scale).astype(np.float32)
            zp = arr(w_zp).astype(np.float32) if w_zp else None
            if scale.ndim == 1 and scale.size > 1:
                scale = scale.reshape(1, -1)
                zp = zp.reshape(1, -1) if zp is not None else None
            added += _add_dequant(g, w_name, arr(w_q), scale, zp)
            dequantized.add(w_name)
        replace[id(node)] = helper.make_node("MatMul", [a_float, w_name], [mul.output[0]],
                                             name=node.name + "_fp32")
        drop.update(id(n) for n in (cast, mul))
    # Scale products and activation quantizers that nothing reads any more go in _prune.
    kept = [replace.get(id(n), n) for n in g.node if id(n) not in drop]
    g.ClearField("node")
    g.node.extend(kept)
    _prepend_nodes(g, added)
    _prune(model)
    # Quantized embedding tables: Gather(int8 table, ids) -> DequantizeLinear. Dequantize the table
    # instead (Cast/Mul, folded at load) and gather fp32 rows.
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    extra, drop, replace = [], set(), {}
    for node in g.node:
        if node.op_type != "DequantizeLinear":
            continue
        gather = producers.get(node.input[0])
        assert gather is not None and gather.op_type == "Gather" and gather.input[0] in inits, \
            f"unsupported DequantizeLinear input {node.input[0]}"
        table = gather.input[0]
        q = arr(table)
        scale = arr(node.input[1]).astype(np.float32)
        zp = arr(node.input[2]).astype(np.float32) if len(node.input) > 2 and node.input[2] else None
        assert scale.size == 1, "per-tensor scales expected on gathered tables"
        name = table[: -len("_quantized")] if table.endswith("_quantized") else table + "_deq"
        extra += _add_dequant(g, name, q, scale, zp)
        axis = dict((a.name, a.i) for a in gather.attribute).get("axis", 0)
        replace[id(node)] = helper.make_node("Gather", [name, gather.input[1]], [node.output[0]],
                                             axis=axis, name=gather.name + "_fp32")
        drop.add(id(gather))
    if extra:
        kept = [replace.get(id(n), n) for n in g.node if id(n) not in drop]
        g.ClearField("node")
        g.node.extend(kept)
        _prepend_nodes(g, extra)
    _prune(model)
    left = {n.op_type for n in model.graph.node} & {
        "MatMulInteger", "DynamicQuantizeLinear", "DequantizeLinear", "QuantizeLinear"}
    assert not left, f"integer ops left: {left}"
    onnx.checker.check_model(model)
    return model


def _prepend_nodes(graph, nodes):
    if not nodes:
        return
    rest = list(graph.node)
    graph.ClearField("node")
    graph.node.extend(nodes)
    graph.node.extend(rest)


def _prune(model):
    """Drops nodes and initializers that no graph output depends on."""
    g = model.graph
    needed = {o.name for o in g.output}
    keep = []
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    keep.reverse()
    g.ClearField("node")
    g.node.extend(keep)
    inits = [i for i in g.initializer if i.name in needed]
    g.ClearField("initializer")
    g.initializer.extend(inits)


def optimized_ops(path: str, tmp_path: str) -> dict[str, int]:
    """Op histogram of the graph onnxruntime actually runs (after its optimizations)."""
    import onnx
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = tmp_path
    ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
    m = onnx.load(tmp_path)
    hist: dict[str, int] = {}
    for n in m.graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    return hist
