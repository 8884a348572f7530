"""Where one call's time goes, measured by taking the graph apart.

``snudeploy bench latency`` says how long a step takes; this says why. ONNX Runtime's own
profiler cannot: it reports whole microseconds and costs more per node than the small
nodes of an SNU step themselves (a 27 µs step takes ~200 µs profiled). So the account is
built from bare calls timed interleaved in one run, as the floor row of ``bench latency``
times them:

- the model's bare call (a bound step of a step graph, or one whole sequence);
- an empty call: a one-node graph (Identity) on the model's input, i.e. what any ONNX
  Runtime call costs here;
- every matrix product of the model (MatMul, Gemm, MatMulInteger at the top level of the
  graph) alone, in a one-node graph with the model's weights and its input shape, minus
  the empty call.

What remains of the bare call is the other nodes (elementwise updates, casts, splits) with
ONNX Runtime's per-node scheduling, reported with its cost per node.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from .. import arguments
from ..runtime.engine import Engine
from ..runtime.providers import PROVIDERS, SessionSettings, create_session
from . import environment
from .candidates import FloorStep, spike_inputs
from .interleave import interleave
from .schema import SCHEMA_VERSION
from .tables import short_labels

PRODUCTS = ("MatMul", "Gemm", "MatMulInteger")  # the nodes timed one by one
CALL, PRODUCT, REST, TOTAL = "call", "product", "rest", "total"  # the kinds of profile records
BURST = 5


def profile(model: str | Path, batch: int = 1, threads: int = 1, provider: str = "cpu", iters: int = 2000,
            warmup: int = 200) -> dict:
    """The ``profile`` bench document of ``model`` (see :data:`snudeploy.bench.schema.PROFILE`).

    Raises:
        ModelFileError, ProviderError: the model cannot load or the provider cannot run.
    """
    batch = arguments.limited(batch, "batch", "batch")
    iters = arguments.integer(iters, "iters", 1, 1_000_000)
    warmup = arguments.integer(warmup, "warmup", 0, 100_000)
    settings = SessionSettings([PROVIDERS[arguments.choice(provider, "provider", PROVIDERS)]], threads,
                               spinning=threads == 1, strict=True)  # interleaved sessions: see streaming_session
    engine = Engine(model, settings)
    proto = _proto(engine.model.payload)
    shapes = _shapes(proto, batch, engine)
    x = spike_inputs(batch, 1, int(np.prod(shapes[engine.model.input][1:])), 1.0)
    calls = {"bare call": _bare_call(engine, batch),
             "empty call": _OneNode(helper.make_node("Identity", ["a"], ["y"]), np.zeros(shapes[engine.model.input],
                                                                                      np.float32), settings)}
    products = [node for node in proto.graph.node if node.op_type in PRODUCTS]
    weights = {t.name: t for t in proto.graph.initializer}
    for i, node in enumerate(products):
        calls[f"product {i}"] = _OneNode.of(node, weights, shapes, x, settings)
    seconds = interleave(calls, iters, BURST, warmup)
    p50 = {name: statistics.median(s) * 1e6 for name, s in seconds.items()}

    info = engine.model.info
    fields = {"model": str(model), "label": short_labels([model])[0], "format": info.format, "graph": info.graph,
              "network": "snu", "units": info.units, "quantization": info.quantization.method,
              "framework": "onnxruntime", "provider": engine.provider, "batch": batch, "threads": threads}
    total, empty = p50["bare call"], p50["empty call"]

    def record(part: str, kind: str, nodes: int, us: float) -> dict:
        return {**fields, "part": part, "kind": kind, "nodes": nodes, "us_per_call": round(us, 3),
                "share": round(us / total, 4)}

    records = [record("ONNX Runtime call (empty graph)", CALL, 1, empty)]
    for i, node in enumerate(products):
        records.append(record(f"{node.op_type} {_dims(node, shapes, weights)}", PRODUCT, 1,
                              max(p50[f"product {i}"] - empty, 0.0)))
    others = sum(1 for n in proto.graph.node if n.op_type not in PRODUCTS)
    rest = max(total - sum(r["us_per_call"] for r in records), 0.0)
    records.append(record("other nodes and their scheduling", REST, others, rest))
    records.append(record("bare call", TOTAL, len(proto.graph.node), total))
    return {"schema_version": SCHEMA_VERSION, "kind": "profile",
            "settings": {"model": str(model), "batch": batch, "threads": threads, "provider": provider,
                         "iters": iters, "warmup": warmup, "per_other_node_us": round(rest / others, 3) if others
                         else None},
            "environment": environment.describe([threads]), "records": records, "warnings": []}


class _OneNode:
    """A bare IOBinding call of a one-node graph on a fixed input (its output preallocated by ONNX Runtime)."""

    def __init__(self, node: onnx.NodeProto, a: np.ndarray, settings: SessionSettings, initializers=()):
        a_info = helper.make_tensor_value_info("a", helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        y_type = TensorProto.INT32 if node.op_type == "MatMulInteger" else TensorProto.FLOAT
        graph = helper.make_graph([node], "piece", [a_info], [helper.make_tensor_value_info("y", y_type, None)],
                                  list(initializers))
        piece = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        self._session = create_session(piece.SerializeToString(), settings, "a piece")
        self._a = a
        self._binding = self._session.io_binding()
        self._binding.bind_cpu_input("a", a)
        self._binding.bind_output("y")
        self._session.run_with_iobinding(self._binding)  # the output buffer exists from here on
        self._binding.bind_ortvalue_output("y", self._binding.get_outputs()[0])
        self._run = self._session.run_with_iobinding

    @classmethod
    def of(cls, node: onnx.NodeProto, weights: dict, shapes: dict, x: np.ndarray, settings: SessionSettings):
        """``node`` alone: its first input fed (spike-like values of its shape and type), the others as weights."""
        a_name, *rest = node.input
        dtype = np.uint8 if node.op_type == "MatMulInteger" else np.float32
        a = np.resize(x, shapes[a_name]).astype(dtype)
        piece = helper.make_node(node.op_type, ["a", *rest], ["y"])
        piece.attribute.extend(node.attribute)
        return cls(piece, a, settings, [weights[name] for name in rest if name])

    def __call__(self):
        self._run(self._binding)


def _bare_call(engine: Engine, batch: int):
    """The floor call of ``engine``'s model at ``batch``: one bound step, or one whole sequence."""
    info = engine.model.info
    encoding = info.encoding
    timesteps = encoding.timesteps if encoding else 20
    x = spike_inputs(batch, timesteps, info.features, encoding.benchmark_spikes if encoding else timesteps / 4)
    if not engine.model.sequence:
        return FloorStep(engine, x)
    x, zeros = x.astype(np.float32), engine.zeros(batch)
    return lambda: engine.sequence(x, zeros)


def _proto(payload: str | bytes) -> onnx.ModelProto:
    return onnx.load_model_from_string(payload) if isinstance(payload, bytes) else onnx.load(payload)


def _shapes(proto: onnx.ModelProto, batch: int, engine: Engine) -> dict[str, tuple[int, ...]]:
    """Shapes of the graph's tensors with the batch (and a free T) filled in."""
    timesteps = engine.model.fixed_timesteps or (engine.info.encoding.timesteps if engine.info.encoding else 20)
    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {}
    for value in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(d.dim_value if d.HasField("dim_value") else (batch if i == 0 else timesteps)
                                   for i, d in enumerate(dims))
    return shapes


def _dims(node: onnx.NodeProto, shapes: dict, weights: dict) -> str:
    """``K×N`` of a product node from its weight, with the rows its input has per call."""
    weight = weights.get(node.input[1])
    rows = int(np.prod(shapes[node.input[0]][:-1]))
    return f"[{rows}×{weight.dims[0]}]·[{weight.dims[0]}×{weight.dims[1]}]" if weight is not None else ""
