"""pytest plugin: make the [train] extra's packages unimportable, as on a base install.

Loaded with ``-p base_install_guard`` before any test module, it turns every import of
TensorFlow & co. into ``ModuleNotFoundError``, so the runtime tests prove that the
runtime works with ``pip install snudeploy`` alone (numpy, onnx, onnxruntime, click).
"""

import importlib.abc
import sys

BLOCKED = ("tensorflow", "keras", "tf_keras", "tf2onnx", "tensorflow_model_optimization", "sklearn", "matplotlib")


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked: base install)", name=fullname)
        return None


sys.meta_path.insert(0, _Block())
