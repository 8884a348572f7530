"""Provider choice: CUDA only when it can run, one clear warning when it falls back, the provider in use reported."""

import warnings

import numpy as np
import onnxruntime as ort
import pytest

from snudeploy.errors import ConfigurationError, ProviderError
from snudeploy.runtime import ProviderFallbackWarning, StreamingSession, cuda_unavailable_reason

no_cuda = pytest.mark.skipif(cuda_unavailable_reason() is None, reason="CUDA is usable on this machine")


def test_cpu_is_the_default_and_is_reported(step_bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session = StreamingSession(step_bytes)
    assert session.provider == "CPUExecutionProvider"


@no_cuda
@pytest.mark.parametrize("providers", ["cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]])
def test_cuda_falls_back_to_cpu_with_one_warning_and_no_library_errors(step_bytes, providers, capfd):
    # onnxruntime-gpu lists CUDA as available even without a GPU; requesting it would log library-load errors.
    if providers != "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime build has no CUDA provider (the CPU package)")
    with pytest.warns(ProviderFallbackWarning, match="CUDA was requested but .*; running on CPUExecutionProvider") \
            as record:
        session = StreamingSession(step_bytes, providers=providers)
    assert len(record) == 1
    assert session.provider == "CPUExecutionProvider"
    session.open()
    assert session.step(np.zeros((1, 16))).shape == (1, 4)
    assert "Failed to load library" not in capfd.readouterr().err


@no_cuda
def test_auto_picks_cpu_silently_without_cuda(step_bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert StreamingSession(step_bytes, providers="auto").provider == "CPUExecutionProvider"


def test_cuda_is_reported_when_usable(step_bytes):
    if cuda_unavailable_reason() is not None:
        pytest.skip(f"no CUDA here: {cuda_unavailable_reason()}")
    assert StreamingSession(step_bytes, providers="cuda").provider == "CUDAExecutionProvider"


@pytest.mark.parametrize("providers, error, message", [
    ("gpu", ConfigurationError, "`providers`, expected one of cpu, cuda, auto"),
    ([], ConfigurationError, "non-empty list"),
    (["FooExecutionProvider"], ConfigurationError, r"Unknown ONNX Runtime provider\(s\) \['FooExecutionProvider'\]"),
    (3, ConfigurationError, "got 3"),
])
def test_bad_provider_names(step_bytes, providers, error, message):
    with pytest.raises(error, match=message):
        StreamingSession(step_bytes, providers=providers)


def test_provider_missing_from_this_build(step_bytes):
    missing = next((p for p in ort.get_all_providers() if p not in ort.get_available_providers()), None)
    if missing is None:
        pytest.skip("this onnxruntime build has every provider")
    with pytest.raises(ProviderError, match=f"{missing}.*not in this onnxruntime build"):
        StreamingSession(step_bytes, providers=[missing])


def test_session_options_and_optimisation_levels_do_not_change_results(step_bytes):
    x = (np.random.default_rng(0).random((3, 6, 16)) < 0.3).astype(np.uint8)
    results = [StreamingSession(step_bytes, threads=1, graph_optimization_level=level).run(x)
               for level in ("disable", "basic", "extended", "all")]
    for rates in results[1:]:
        np.testing.assert_allclose(rates, results[0], atol=1e-6)


def test_spinning_off_reaches_onnx_runtime_and_changes_no_result(step_bytes):
    x = (np.random.default_rng(0).random((3, 6, 16)) < 0.3).astype(np.uint8)
    quiet = StreamingSession(step_bytes, threads=2, spinning=False)
    assert quiet.engine.settings.spinning is False and StreamingSession(step_bytes).engine.settings.spinning
    assert quiet.engine.session.get_session_options().get_session_config_entry(
        "session.intra_op.allow_spinning") == "0"
    np.testing.assert_allclose(quiet.run(x), StreamingSession(step_bytes, threads=2).run(x), atol=1e-6)
