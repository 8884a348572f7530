"""Every entry of the activation table: numpy and ONNX agree, and names resolve from functions and aliases."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from snudeploy import activation_table
from snudeploy.kinds import snu
from snudeploy.kinds.graph import Nodes
from snudeploy.errors import ConfigurationError

X = np.linspace(-3, 3, 61, dtype=np.float32)


@pytest.mark.parametrize("name", activation_table.ACTIVATIONS)
def test_onnx_emission_equals_the_numpy_function(name):
    """Every registered activation, emitted as the exporters emit it, computes its numpy function."""
    act = activation_table.get(name)
    nodes = Nodes()
    if act.role == "output":
        snu.output(nodes, name, "x", "b", "y")
    else:
        snu.state_function(nodes, name, "x", "y")
    graph = helper.make_graph(nodes.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [61])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [61])],
                              [onnx.numpy_helper.from_array(np.zeros(61, np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": X})[0]
    np.testing.assert_allclose(got, act.numpy(X), rtol=1e-6, atol=1e-7)
    assert act.binary == (set(np.unique(got)) <= {0.0, 1.0})


def test_names_aliases_and_function_names_resolve():
    assert activation_table.state_function_name("leaky_rel") == "leaky_relu"
    assert activation_table.output_activation_name("heaviside") == "step"

    def leaky_rel(x):  # a function is resolved by its name, as the tutorial passes it
        return x

    assert activation_table.state_function_name(leaky_rel) == "leaky_relu"
    with pytest.raises(ConfigurationError, match="argument `g`, expected one of"):
        activation_table.state_function_name("step")
    with pytest.raises(ConfigurationError, match="argument `activation`"):
        activation_table.output_activation_name("tanh")
