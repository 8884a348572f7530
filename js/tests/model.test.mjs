// Loading: every check a model passes before it runs, and the typed error for each failure.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConfigurationError, CorruptModelError, ModelFileError, StreamingSession } from 'snudeploy-runtime';
import { serve } from '../demo/serve.mjs';
import { StreamingSession as WebSession } from '../src/browser.js';
import { bytes, random, session, shipped, small, spikes } from './helpers.mjs';

const rejects = (promise, type, pattern) => assert.rejects(promise, (e) => {
  assert.ok(e instanceof type, `${e.name}: ${e.message}`);
  assert.match(e.message, pattern);
  return true;
});

test('shipped models load from a path, a file URL and bytes; schema-3 files carry their digest', async () => {
  for (const model of ['digits-snu/step.onnx', 'digits-snu/step.int8.onnx', 'fashion-mnist-snu/step.onnx']) {
    const url = shipped(model);
    for (const source of [url.pathname, url, await bytes(url)]) {
      const s = await StreamingSession.create(source);
      assert.ok([2, 3].includes(s.info.schemaVersion), `${model}: schema ${s.info.schemaVersion}`);
      assert.equal(s.digest === null, s.info.schemaVersion < 3, model); // from schema 3 on, files are sealed
      assert.deepEqual(s.inputShape, [s.features]);
      assert.equal(s.classes, 10);
      assert.equal(s.info.states.length, 6);
      assert.equal(s.info.input.binary, model.includes('int8'));
      await s.release();
    }
  }
  const vowels = await StreamingSession.create(shipped('japanese-vowels-snu/step.onnx'));
  assert.deepEqual([vowels.info.encoding.kind, vowels.info.readout], ['direct', { kind: 'membrane', reduce: 'last' }]);
  assert.deepEqual(vowels.info.layers.map((l) => l.kind), ['snu', 'leaky_integrator']);
  assert.deepEqual(vowels.info.states.map((st) => st.input), ['l0_y', 'l0_s', 'l1_v']);
});

test('a schema-3 file written by the exporters\' code: shapes, states, readout, digest', async () => {
  const s = await session();
  assert.equal(s.info.schemaVersion, 3);
  assert.match(s.digest, /^[0-9a-f]{64}$/);
  assert.deepEqual(s.info.input.shape, [6]);
  assert.deepEqual(s.info.layers.map((l) => [l.kind, l.outputShape]), [['snu', [5]], ['snu', [3]]]);
  assert.deepEqual(s.info.states.map((st) => [st.input, st.output, st.shape]),
    [['l0_y', 'l0_y_next', [5]], ['l0_s', 'l0_s_next', [5]], ['l1_y', 'l1_y_next', [3]], ['l1_s', 'l1_s_next', [3]]]);
  assert.deepEqual(s.info.readout, { kind: 'mean_rate', reduce: 'count' });
  assert.deepEqual(s.info.encoding, { kind: 'rate', timesteps: 6, maxSpikes: 4, seed: 0 });
  assert.equal(s.info.quantization.int8, false);
  assert.ok(Object.isFrozen(s.info) && Object.isFrozen(s.info.layers[0]));
});

test('schema 2 files read as schema 3; their int8 graphs claim integer arithmetic', async () => {
  const s = await session('schema2.int8.onnx');
  assert.equal(s.info.schemaVersion, 2);
  assert.equal(s.digest, null);
  assert.deepEqual(s.info.layers.map((l) => [l.kind, l.outputShape]), [['snu', [5]], ['snu', [3]]]);
  assert.deepEqual(s.info.readout, { kind: 'mean_rate', reduce: 'count' });
  assert.equal(s.info.quantization.int8, true);
});

test('a membrane readout needs a leaky-integrator output layer, as in Python', async () => {
  await rejects(session('membrane-on-spikes.onnx'), ModelFileError,
    /invalid snudeploy metadata: the membrane readout needs a leaky_integrator output layer; the last layer is snu/);
});

test('a file changed after it was sealed is a CorruptModelError, unless the check is skipped', async () => {
  await rejects(session('corrupted.onnx'), CorruptModelError, /is corrupted: its bytes do not match the digest written at export.*checkDigest: false/);
  await rejects(session('unsealed.onnx'), CorruptModelError, /its seal \(snudeploy.sha256\) is missing/);
  assert.ok(CorruptModelError.prototype instanceof ModelFileError);
  for (const name of ['corrupted.onnx', 'unsealed.onnx']) assert.equal((await session(name, { checkDigest: false })).classes, 3);
});

test('editing the metadata text breaks the digest too', async () => {
  const data = await bytes(small());
  const at = Buffer.from(data).indexOf('"seed": 0');
  assert.ok(at > 0);
  const edited = data.slice();
  edited.set(new TextEncoder().encode('"seed": 1'), at);
  await rejects(StreamingSession.create(edited), CorruptModelError, /is corrupted/);
  const s = await StreamingSession.create(edited, { checkDigest: false });
  assert.equal(s.info.encoding.seed, 1);
});

test('N-D per-step input: a convolutional network taking x as [S, 6, 6, 1]', async () => {
  const s = await session('conv.onnx');
  assert.deepEqual(s.inputShape, [6, 6, 1]);
  assert.equal(s.features, 36);
  assert.deepEqual(s.info.layers.map((l) => l.kind), ['snu_conv2d', 'sum_pool2d', 'flatten', 'snu']);
  assert.deepEqual(s.info.states.map((st) => st.shape), [[6, 6, 3], [6, 6, 3], [4], [4]]);
  const q = await session('conv.int8.onnx');
  assert.deepEqual([q.info.input.binary, q.info.quantization.int8], [true, true]);
});

test('the operator check refuses what snudeploy does not emit, unless trusted', async () => {
  await rejects(session('foreign-operator.onnx'), ModelFileError, /operator\(s\) Neg, which snudeploy's step exporter does not emit.*trustOperators/);
  assert.equal((await session('foreign-operator.onnx', { trustOperators: true })).classes, 3);
});

test('a graph that does not match its metadata is refused, naming the mismatch', async () => {
  await rejects(session('wider-input.onnx'), ModelFileError, /does not match its snudeploy metadata: x has shape \[\?, 6\], its metadata says \[\?, 7\]/);
  await rejects(session('renamed-input.onnx'), ModelFileError,
    /graph input\(s\) l0_y named by its metadata do not exist; graph inputs \["l0_y_in"\] are not in its metadata/);
  await rejects(session('int8-claim.onnx'), ModelFileError, /quantization says integer arithmetic, the graph has no integer operators/);
  await rejects(session('unrolled-timesteps.onnx'), ModelFileError, /timesteps is 5, the unrolled graph's input takes T = 6/);
  assert.equal((await session('unrolled.onnx')).info.format, 'unrolled');
});

test('metadata problems: none, newer schema, a state off the naming contract', async () => {
  await rejects(session('no-metadata.onnx'), ModelFileError, /is not a snudeploy model: it has no 'snudeploy' metadata/);
  await rejects(session('newer-schema.onnx'), ModelFileError, /written with metadata schema 99; this runtime reads up to 3/);
  await rejects(session('miswired-state.onnx'), ModelFileError, /state 'y' of layer 0 is wired l0_y_in -> l0_y_next; the naming contract says l0_y -> l0_y_next/);
});

test('NaN weights are refused', async () => {
  await rejects(session('nan-weight.onnx'), ModelFileError, /weight 'l0_kernel' holds NaN or Inf/);
});

test('files that are not models', async () => {
  await rejects(StreamingSession.create('/nonexistent/model.onnx'), ModelFileError, /does not exist/);
  await rejects(StreamingSession.create(new URL('.', small())), ModelFileError, /is a folder/);
  await rejects(StreamingSession.create(shipped('digits-snu/spec.json')), ModelFileError, /is not an ONNX model/);
  await rejects(StreamingSession.create(new TextEncoder().encode('not a model at all')), ModelFileError, /is not a readable ONNX model/);
  const data = await bytes(small());
  await rejects(StreamingSession.create(data.subarray(0, data.length - 7)), ModelFileError, /is not a readable ONNX model|runs past/);
  await rejects(StreamingSession.create(new Uint8Array([8, 8])), ModelFileError, /not an ONNX model \(no graph\)/);
  await rejects(StreamingSession.create(42), ModelFileError, /Expected a model path, URL or the model's bytes, got number/);
});

test('options are checked', async () => {
  await rejects(session('small.onnx', { thread: 1 }), ConfigurationError, /Unknown option\(s\) thread/);
  await rejects(session('small.onnx', { threads: 0 }), ConfigurationError, /`threads` must be an integer from 1 to 256/);
  await rejects(session('small.onnx', { graphOptimizationLevel: 'max' }), ConfigurationError, /graphOptimizationLevel/);
  await rejects(session('small.onnx', { checkDigest: 'no' }), ConfigurationError, /`checkDigest` must be true or false/);
  for (const level of ['disable', 'basic', 'extended', 'all']) await (await session('small.onnx', { graphOptimizationLevel: level })).release();
});

test('a fixed-length sequence graph (unrolled) loads but cannot step', async () => {
  const s = await StreamingSession.create(shipped('digits-snu/unrolled.onnx'));
  const ids = await s.open(1);
  await rejects(s.step(new Uint8Array(64), ids), ConfigurationError, /fixed sequence length T=20/);
});

test('a sequence graph of free length (customop) steps as sequences of one step, like its step graph', async () => {
  const stepGraph = await StreamingSession.create(shipped('digits-snu/step.onnx'));
  const sequence = await StreamingSession.create(shipped('digits-snu/customop.onnx'));
  assert.equal(sequence.info.graph, 'sequence');
  const a = await stepGraph.open(3);
  const b = await sequence.open(3);
  let state = 7;
  for (let t = 0; t < 20; t += 1) {
    const x = Uint8Array.from({ length: 3 * 64 }, () => { state = (state * 48271) % 2147483647; return state % 3 === 0 ? 1 : 0; });
    assert.deepEqual(await sequence.step(x, b), await stepGraph.step(x, a));
  }
  assert.deepEqual(await sequence.spikeCounts(b), await stepGraph.spikeCounts(a));
});

test('models over http, and as a Blob (the browser entry, run in Node)', async () => {
  const { server, url } = await serve({ port: 0 });
  try {
    const s = await StreamingSession.create(`${url}/models/digits-snu/step.int8.onnx`);
    assert.equal(s.info.dataset, 'digits');
    await rejects(StreamingSession.create(`${url}/models/digits-snu/missing.onnx`), ModelFileError, /cannot be fetched \(HTTP 404/);
    await rejects(WebSession.create(new URL(`${url}/js/package.json`)), ModelFileError, /cannot be fetched \(HTTP 404/);
  } finally {
    server.close();
  }
  const web = await WebSession.create(new Blob([await bytes(small())]));
  assert.equal(web.runtime, 'onnxruntime-web');
  assert.equal(web.classes, 3);
  await rejects(WebSession.create(42), ModelFileError, /Expected a model URL, Blob or the model's bytes/);
});

test('a model that asks ONNX Runtime to disable single optimizers runs unoptimized, with the same spikes', async () => {
  const next = random(9);
  const plain = await session();
  const disabled = await session('disabled-optimizers.onnx');
  const [a] = await plain.open(1);
  const [b] = await disabled.open(1);
  for (let t = 0; t < 6; t += 1) {
    const x = spikes(next, 1, 6);
    assert.deepEqual(await disabled.step(x, b), await plain.step(x, a));
  }
});
