"""Benchmarks of exported SNU models: ``bench latency`` and ``bench accuracy``.

* :mod:`.latency` - per-step and whole-sequence latency through the runtime API, with
  TensorFlow and LSTM baselines timed in the same run (:mod:`.interleave`, :mod:`.stats`);
* :mod:`.accuracy` - test accuracy, agreement with Keras, spikes per layer, SynOps and the
  anytime curve (:mod:`.spikes`);
* :mod:`.schema` - the JSON both write; :mod:`.environment`, :mod:`.tables`, :mod:`.plots`.

Importing this package loads neither TensorFlow nor matplotlib; the modules that need them
(:mod:`.keras_candidates`, :mod:`.keras_reference`, :mod:`.plots`) import them when used.
"""
