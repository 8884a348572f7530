// StreamingSession.feed, as Python's: raw values encoded per stream from each stream's own encoder state
// (zeroed by open and reset, carried by snapshots, written back only after the step succeeded), typed errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ConfigurationError, InputDTypeError, InputShapeError, InputValueError, UnknownStreamError,
} from 'snudeploy-runtime';
import { stepEncoder } from '../src/encoding.js';
import { random, session } from './helpers.mjs';

const RAW = 3; // the delta models' raw channels; they take ON and OFF spikes of each: 6 inputs
const CLASSES = 3;

const rejects = (promise, type, pattern) => assert.rejects(promise, (e) => {
  assert.ok(e instanceof type, `${e.name}: ${e.message}`);
  assert.match(e.message, pattern);
  return true;
});

/** `streams` random walks of RAW channels over `steps` steps, as raw[s][t] = Float32Array [RAW]. */
function walks(seed, streams, steps) {
  const next = random(seed);
  return Array.from({ length: streams }, () => {
    const walk = new Float32Array(RAW);
    return Array.from({ length: steps }, () => walk.map((v, c) => { walk[c] = v + 3 * (next() - 0.5); return walk[c]; }));
  });
}

/** One step of the rows `rows` of `raw` at step t, flat [rows.length × RAW]. */
const rowsAt = (raw, rows, t) => Float32Array.from(rows.flatMap((r) => Array.from(raw[r][t])));

const zeroState = (encoder) => Object.fromEntries(Object.entries(encoder.state).map(([name, size]) => [name, new Float32Array(size)]));

test('feed equals stepping the encoded input, each stream from its own encoder state', async () => {
  const [fed, stepped] = [await session('delta.onnx'), await session('delta.onnx')];
  const encoder = stepEncoder(fed.info.encoding);
  const raw = walks(1, 8, 12);
  const [a, b] = [await fed.open(8), await stepped.open(8)];
  const states = a.map(() => zeroState(encoder)); // the test's own encoder state per stream
  let inputSpikes = 0;
  let outputSpikes = 0;
  for (let t = 0; t < 12; t += 1) {
    const rows = [0, 1, 2, 3, 4, 5, 6, 7].filter((i) => (i + t) % 3); // a changing subset of streams each step
    const out = await fed.feed(rowsAt(raw, rows, t), rows.map((i) => a[i]));
    const x = new Float32Array(rows.length * 2 * RAW);
    rows.forEach((r, k) => {
      const step = encoder.step(raw[r][t], states[r], 1);
      states[r] = step.state;
      x.set(step.input, k * 2 * RAW);
    });
    inputSpikes += x.reduce((sum, v) => sum + v, 0);
    assert.deepEqual(out, await stepped.step(x, rows.map((i) => b[i])), `step ${t}`);
    outputSpikes += out.reduce((sum, v) => sum + v, 0);
  }
  assert.deepEqual(await fed.spikeCounts(a), await stepped.spikeCounts(b));
  assert.ok(inputSpikes > 20 && outputSpikes > 5, `the encoder and the model spike (${inputSpikes} in, ${outputSpikes} out)`);
});

test('encoder state lives in the stream: open and reset zero it, snapshot and restore carry it', async () => {
  const s = await session('delta.onnx');
  const raw = walks(2, 2, 12);
  const [a, b] = await s.open(2);
  for (let t = 0; t < 5; t += 1) await s.feed(rowsAt(raw, [0, 1], t), [a, b]);
  const snap = await s.snapshot(a);
  assert.deepEqual(Object.keys(snap.encoder).sort(), ['reference', 'started']);
  assert.deepEqual(Array.from(snap.encoder.started), [1]);
  const [c] = await s.open(1);
  assert.deepEqual((await s.snapshot(c)).encoder, { reference: new Float32Array(RAW), started: new Float32Array(1) });
  await s.restore(c, structuredClone(snap));
  for (let t = 5; t < 12; t += 1) assert.deepEqual(await s.feed(raw[0][t], c), await s.feed(raw[0][t], a), `step ${t}`);
  const other = await session('delta.onnx'); // a snapshot restores into another session of the same model
  const [d] = await other.open(1);
  await other.restore(d, snap);
  await s.restore(a, snap);
  assert.deepEqual(await other.feed(raw[0][5], d), await s.feed(raw[0][5], a));
  await s.reset(b); // a reset stream's first value becomes its reference again: it sends nothing
  assert.deepEqual(Array.from((await s.snapshot(b)).encoder.started), [0]);
  const value = raw[1][7].map((v) => v + 100);
  await s.feed(value, b);
  const after = await s.snapshot(b);
  assert.equal(after.steps, 1);
  assert.deepEqual(after.encoder.reference, stepEncoder(s.info.encoding).normalise(value));
  const quiet = await session('delta.onnx'); // what a stream that gets no input spikes outputs at its first step
  assert.deepEqual(after.last, await quiet.step(new Float32Array(2 * RAW), await quiet.open(1)));
});

test('bad feeds raise typed errors and change no stream, its encoder state included', async () => {
  const s = await session('delta.onnx');
  const ids = await s.open(2);
  const raw = walks(3, 3, 2);
  await s.feed(rowsAt(raw, [0, 1], 0), ids);
  const before = await Promise.all(ids.map((id) => s.snapshot(id)));
  const bad = [
    [new Float32Array(2 * (RAW - 1)), null, InputShapeError, /Expected input of shape \[streams=2, 3\]/], // too few channels
    [rowsAt(raw, [0, 1, 2], 1), null, InputShapeError, /shape \[streams=2, 3\]/], // a row per stream
    [new Float32Array(2 * RAW).fill(NaN), null, InputValueError, /NaN\/Inf\/out-of-range/],
    [new Float64Array(2 * RAW).fill(1e30), null, InputValueError, /NaN\/Inf\/out-of-range/],
    [Array(2 * RAW).fill('a'), null, InputDTypeError, /got string/],
    [rowsAt(raw, [0, 1], 1), [ids[0], 99], UnknownStreamError, /Stream 99 was never opened/],
    [rowsAt(raw, [0, 1], 1), [ids[0], ids[0]], UnknownStreamError, /repeated/],
  ];
  for (const [values, streams, type, pattern] of bad) {
    await rejects(s.feed(values, streams ?? ids), type, pattern);
    assert.deepEqual(await Promise.all(ids.map((id) => s.snapshot(id))), before);
  }
  await rejects(s.restore(ids[0], { ...before[0], encoder: {} }), ConfigurationError,
    /does not fit this model's encoder: it holds encoder state \{\}, this model's encoder has \{reference: 3, started: 1\}/);
  await rejects(s.restore(ids[0], { ...before[0], encoder: { ...before[0].encoder, reference: Float32Array.of(0, NaN, 0) } }),
    ConfigurationError, /encoder state reference must hold finite numbers/);
  assert.deepEqual(await s.snapshot(ids[0]), before[0]);
});

test('a step that fails after encoding writes no encoder state back', async () => {
  const s = await session('delta-huge-weights.onnx'); // two input spikes make a state Inf
  const [id] = await s.open(1);
  await s.feed([0, 0, 0], id);
  const before = await s.snapshot(id);
  await rejects(s.feed([50, 50, 50], id), InputValueError, /would make a stream's state NaN or Inf/);
  assert.deepEqual(await s.snapshot(id), before);
  await s.feed([0, 0, 0], id); // the reference is still the first value's: no change, no spike
  assert.deepEqual(Array.from((await s.snapshot(id)).encoder.reference), Array.from(before.encoder.reference));
});

test('feed refuses models whose encoding it does not run, and values the spikes encoding does not take', async () => {
  const rate = await session('small.onnx');
  await rate.open(1);
  await rejects(rate.feed(new Float32Array(6)), ConfigurationError,
    /small.onnx has a rate encoding, which draws random numbers; feed\(\) encodes deterministic encodings only: step\(\) the encoded input instead/);
  const none = await session('no-encoding.onnx');
  await none.open(1);
  await rejects(none.feed(new Float32Array(6)), ConfigurationError, /has no encoding in its metadata/);
  const unfitted = await session('direct-unfitted.onnx');
  const [u] = await unfitted.open(1);
  await rejects(unfitted.feed(new Float32Array(6), u), ConfigurationError, /direct encoding is not fitted/);
  assert.deepEqual(await unfitted.stepsSeen(u), [0]);
  const spikes = await session('spikes.onnx');
  await rejects(spikes.feed(new Float32Array(6)), UnknownStreamError, /No streams to feed: open some with open\(\) first/);
  const [p] = await spikes.open(1);
  await rejects(spikes.feed([0, 1, 0.5, 0, 1, 0], p), InputValueError, /encoding is `spikes`: feed 0 or 1 values only/);
  const same = await session('spikes.onnx');
  const [q] = await same.open(1);
  assert.deepEqual(await spikes.feed([true, 1, 0, 0, 1, 1], p), await same.step([1, 1, 0, 0, 1, 1], q));
});

test('latency: each stream counts its own steps and fires once, at min(floor((1 - x) T), T - 1)', async () => {
  const s = await session('latency.onnx'); // T = 4
  const stepped = await session('latency.onnx');
  const images = [[1, 0.8, 0.5, 0.2, 0, 1e-9], [0.3, 0.3, 0.3, 0.3, 0.3, 0.3], [0.9, 0.6, 0.4, 0.1, 1, 0]];
  const first = (x) => (x > 0 ? Math.min(Math.floor((1 - x) * 4), 3) : Infinity);
  const [a, b] = await s.open(2);
  const [sa, sb] = await stepped.open(2);
  await s.feed(images[0], a);
  await stepped.step(images[0].map((x) => Number(first(x) === 0)), sa);
  const [c] = await s.open(1); // opened later: at its own step 0
  const [sc] = await stepped.open(1);
  for (let t = 1; t < 4; t += 1) {
    const out = await s.feed([images[0], images[1], images[2]], [a, b, c]);
    const x = [[images[0], t], [images[1], t - 1], [images[2], t - 1]].map(([image, own]) => image.map((v) => Number(first(v) === own)));
    assert.deepEqual(out, await stepped.step(x, [sa, sb, sc]), `step ${t}`);
  }
  assert.deepEqual(Array.from((await s.snapshot(a)).encoder.t), [4]);
  assert.deepEqual(Array.from((await s.snapshot(c)).encoder.t), [3]);
  await s.reset(a);
  assert.deepEqual(Array.from((await s.snapshot(a)).encoder.t), [0]);
  await rejects(s.feed([1, 0.5, 0.2, 0, 1.5, 0.1], a), InputValueError, /Latency encoding needs finite values in \[0, 1\]/);
  assert.deepEqual(Array.from((await s.snapshot(a)).encoder.t), [0]); // refused: nothing changed
});

test('a membrane readout on fed streams: the running maximum predicts; decided only when no step remains', async () => {
  const s = await session('delta-membrane.onnx');
  assert.deepEqual(s.info.readout, { kind: 'membrane', reduce: 'max' });
  const raw = walks(4, 3, 10);
  const ids = await s.open(3);
  const peak = new Float32Array(3 * CLASSES).fill(-Infinity);
  for (let t = 0; t < 10; t += 1) {
    const out = await s.feed(rowsAt(raw, [0, 1, 2], t), ids);
    out.forEach((v, i) => { peak[i] = Math.max(peak[i], v); });
    const rows = ids.map((_, i) => Array.from(peak.subarray(i * CLASSES, (i + 1) * CLASSES)));
    assert.deepEqual(await s.predict(ids), rows.map((r) => r.indexOf(Math.max(...r))));
    assert.deepEqual(await s.decided(9 - t, ids), Array(3).fill(t === 9));
  }
  assert.deepEqual(await s.rates(ids), peak);
});
