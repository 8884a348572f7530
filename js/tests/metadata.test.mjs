// Parsing the snudeploy metadata: schema 2 and 3, and a ModelFileError naming each problem.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ModelFileError } from 'snudeploy-runtime';
import { parse } from '../src/metadata.js';

const layer3 = (units, extra = {}) => ({ kind: 'snu', units, decay: 0.9, output_shape: [units], ...extra });
const states = (units) => units.flatMap((u, i) => ['y', 's'].map((kind) => (
  { layer: i, kind, input: `l${i}_${kind}`, output: `l${i}_${kind}_next`, shape: [null, u], dtype: 'float32' })));

function schema3(changes = {}) {
  return {
    schema_version: 3, format: 'step', graph: 'step', opset: 17,
    input: { name: 'x', shape: [28, 28, 1], features: 784, dtype: 'float32', binary: false },
    layers: [
      { kind: 'snu_conv2d', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', output_shape: [28, 28, 4] },
      { kind: 'sum_pool2d', pool_size: [2, 2], output_shape: [14, 14, 4] },
      { kind: 'flatten', output_shape: [784] },
      { kind: 'a_kind_from_the_future', output_shape: [784] },
      { kind: 'leaky_integrator', units: 10, decay: 0.9, output_shape: [10] },
    ],
    states: [
      { layer: 0, kind: 'y', input: 'l0_y', output: 'l0_y_next', shape: [null, 28, 28, 4], dtype: 'float32' },
      { layer: 0, kind: 's', input: 'l0_s', output: 'l0_s_next', shape: [null, 28, 28, 4], dtype: 'float32' },
      { layer: 4, kind: 'v', input: 'l4_v', output: 'l4_v_next', shape: [null, 10], dtype: 'float32' },
    ],
    outputs: { spikes: 'spikes' },
    readout: { kind: 'membrane', reduce: 'max' },
    encoding: { kind: 'rate', timesteps: 20, max_spikes: 6, seed: 3 },
    quantization: { method: 'none' },
    ...changes,
  };
}

const fails = (raw, pattern) => assert.throws(() => parse(JSON.stringify(raw), 'm.onnx'), (e) => {
  assert.ok(e instanceof ModelFileError, e.message);
  assert.match(e.message, pattern);
  return true;
});

test('schema 3: N-D input and states, unknown layer kinds, readout objects', () => {
  const info = parse(JSON.stringify(schema3()));
  assert.deepEqual(info.input.shape, [28, 28, 1]);
  assert.equal(info.classes, 10);
  assert.deepEqual(info.states.map((s) => [s.shape, s.size]), [[[28, 28, 4], 3136], [[28, 28, 4], 3136], [[10], 10]]);
  assert.deepEqual(info.layers.map((l) => l.kind), ['snu_conv2d', 'sum_pool2d', 'flatten', 'a_kind_from_the_future', 'leaky_integrator']);
  assert.deepEqual(info.readout, { kind: 'membrane', reduce: 'max' });
  assert.deepEqual(info.encoding, { kind: 'rate', timesteps: 20, maxSpikes: 6, seed: 3 });
  assert.deepEqual(parse(JSON.stringify(schema3({ readout: { kind: 'membrane' } }))).readout, { kind: 'membrane', reduce: 'last' });
  const spiking = { layers: [...schema3().layers.slice(0, 4), layer3(10)], readout: { kind: 'spike_count' } };
  assert.deepEqual(parse(JSON.stringify(schema3(spiking))).readout, { kind: 'spike_count', reduce: 'count' });
});

test('encodings: every kind with its fields (Python\'s defaults), a kind from the future kept as stored', () => {
  const encoding = (value) => parse(JSON.stringify(schema3({ encoding: value }))).encoding;
  assert.deepEqual(encoding({ kind: 'rate' }), { kind: 'rate', timesteps: 20, maxSpikes: 6, seed: 0 });
  assert.deepEqual(encoding({ kind: 'latency', timesteps: 4 }), { kind: 'latency', timesteps: 4 });
  assert.deepEqual(encoding({ kind: 'spikes', timesteps: 9 }), { kind: 'spikes', timesteps: 9 });
  assert.deepEqual(encoding({ kind: 'direct', timesteps: 26, mean: [0.5, -1], scale: [2, 0.25] }),
    { kind: 'direct', timesteps: 26, mean: [0.5, -1], scale: [2, 0.25] });
  assert.deepEqual(encoding({ kind: 'delta', mean: [0], scale: [1], threshold: [0.1] }),
    { kind: 'delta', timesteps: 20, mean: [0], scale: [1], threshold: [0.1] });
  assert.deepEqual(encoding({ kind: 'direct' }), { kind: 'direct', timesteps: 20, mean: [], scale: [] }); // not fitted
  assert.deepEqual(encoding({ kind: 'a_kind_from_the_future', mood: 'bright' }), { kind: 'a_kind_from_the_future', mood: 'bright' });
  assert.equal(encoding(null), null);
  const delta = { kind: 'delta', mean: [0, 1], scale: [1, 2], threshold: [0.5, 0.5] };
  fails(schema3({ encoding: { ...delta, factor: 0.5 } }), /unknown delta encoding field\(s\): factor/);
  fails(schema3({ encoding: { kind: 'latency', max_spikes: 3 } }), /unknown latency encoding field\(s\): max_spikes/);
  fails(schema3({ encoding: { ...delta, scale: [1] } }), /`encoding.mean` and `encoding.scale` differ in length \(2 and 1\)/);
  fails(schema3({ encoding: { ...delta, scale: [1, 0] } }), /`encoding.scale` values must be positive/);
  fails(schema3({ encoding: { ...delta, threshold: [0.5] } }), /a delta encoding needs one positive threshold per channel \(2\), got \[0.5\]/);
  fails(schema3({ encoding: { ...delta, threshold: [0.5, -1] } }), /one positive threshold per channel/);
  fails(schema3({ encoding: { ...delta, mean: [0, '1'] } }), /`encoding.mean` must list finite numbers/);
  fails(schema3({ encoding: { ...delta, mean: 0 } }), /`encoding.mean` must be a list/);
  fails(schema3({ encoding: { kind: 'spikes', timesteps: 0 } }), /`encoding.timesteps` must be an integer from 1/);
});

test('schema 2 maps to schema 3', () => {
  const raw = {
    schema_version: 2, format: 'step', graph: 'step', opset: 17, input: { name: 'x', features: 64, dtype: 'float32', binary: true },
    layers: [{ units: 5, cell: 'snu' }, { units: 3, cell: 'lstm' }], states: states([5, 3]).map(({ dtype, ...s }) => s),
    outputs: { spikes: 'spikes' }, readout: 'mean_rate',
  };
  const info = parse(JSON.stringify(raw));
  assert.deepEqual(info.input, { name: 'x', shape: [64], features: 64, dtype: 'float32', binary: true });
  assert.deepEqual(info.layers.map((l) => [l.kind, l.outputShape]), [['snu', [5]], ['lstm', [3]]]);
  assert.deepEqual(info.readout, { kind: 'mean_rate', reduce: 'count' });
  assert.equal(info.classes, 3);
  delete raw.states[0].shape; // the shape defaults to the layer's units
  assert.deepEqual(parse(JSON.stringify(raw)).states[0].shape, [5]);
  fails({ ...raw, states: [{ ...raw.states[1], shape: [null, 5, 1] }] }, /state shape must be \[null, units\]/);
  fails({ ...raw, states: [{ ...raw.states[0], input: 'y0' }] }, /is wired y0 -> l0_y_next; the naming contract says l0_y -> l0_y_next/);
  assert.equal(info.quantization.int8, true); // schema 2: a spikes-only input meant integer arithmetic
});

test('each problem is named', () => {
  fails(schema3({ schema_version: 4 }), /written with metadata schema 4; this runtime reads up to 3/);
  fails(schema3({ schema_version: '3' }), /without a valid schema version/);
  fails({ schema_version: 3, format: 'step' }, /incomplete snudeploy metadata \(missing graph, input, layers, states\)/);
  fails(schema3({ graph: 'tree' }), /`graph` must be one of step, sequence, got "tree"/);
  fails(schema3({ layers: [] }), /it lists no layers/);
  fails(schema3({ states: [] }), /it lists no state tensors/);
  fails(schema3({ input: { name: 'x', shape: [28, 27], features: 784 } }), /`input.features` \(784\) is not the product of `input.shape` \[28,27\]/);
  fails(schema3({ input: { name: 'x', shape: [0], features: 0 } }), /`input.shape` must be an integer from 1/);
  fails(schema3({ input: { name: 'x', shape: [] } }), /`input.shape` must list 1 to 8 sizes/);
  fails(schema3({ layers: [{ kind: 'snu' }] }), /`layers.output_shape` must be a list/);
  fails(schema3({ states: [{ layer: 9, kind: 'y', input: 'l9_y', output: 'l9_y_next' }] }), /`states.layer` must be an integer from 0 to 4/);
  fails(schema3({ states: [{ layer: 4, kind: 'y', input: 'l4_y', output: 'l4_y_out', shape: [null, 10] }] }),
    /state 'y' of layer 4 is wired l4_y -> l4_y_out; the naming contract says l4_y -> l4_y_next/);
  fails(schema3({ states: [{ layer: 4, kind: 'y', input: 'l4_y', output: 'l4_y_next' }] }), /every state needs its `shape`/);
  fails(schema3({ states: [...schema3().states, schema3().states[2]] }), /input names repeat: \["l4_v"\].*output names repeat/);
  fails(schema3({ layers: [...schema3().layers.slice(0, 4), layer3(10)] }),
    /the membrane readout needs a leaky_integrator output layer; the last layer is snu/);
  fails(schema3({ readout: { kind: 'mean_rate' } }), /the mean_rate readout cannot read a leaky_integrator output layer/);
  fails(schema3({ readout: { kind: 'vote' } }), /`readout.kind` must be one of mean_rate, spike_count, membrane, got "vote"/);
  fails(schema3({ readout: { kind: 'membrane', reduce: 'mean' } }), /`readout.reduce` must be one of last, max/);
  fails(schema3({ encoding: { kind: 'rate', timesteps: 20, max_spikes: 21 } }), /`encoding.max_spikes` must be a number from 0 to 20/);
  fails(schema3({ quantization: { method: 'ptq', ort_disabled_optimizers: 'all' } }), /must be a list of optimizer names, got "all"/);
  fails(schema3({ layers: Array(65).fill(layer3(10)) }), /it has 65 layers \(at most 64\)/);
  assert.throws(() => parse('{"schema_version": 3,', 'm.onnx'), /m.onnx has corrupt snudeploy metadata/);
  assert.throws(() => parse('[1]', 'm.onnx'), /not a JSON object/);
  assert.throws(() => parse(undefined, 'm.onnx'), /m.onnx is not a snudeploy model: it has no 'snudeploy' metadata/);
});
