// StreamingSession's semantics, as Python's: ids, inputs, typed errors that change nothing,
// stream isolation, snapshots, readouts, and calls serialized per session.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ConfigurationError, InputDTypeError, InputShapeError, InputValueError, StreamingSession, UnknownStreamError,
} from 'snudeploy-runtime';
import { random, session, shipped, spikes } from './helpers.mjs';

const FEATURES = 6;
const CLASSES = 3;

const rejects = (promise, type, pattern) => assert.rejects(promise, (e) => {
  assert.ok(e instanceof type, `${e.name}: ${e.message}`);
  assert.match(e.message, pattern);
  return true;
});

/** Everything a session holds about `ids`: snapshots (states and counters). */
const everything = (s, ids) => Promise.all(ids.map((id) => s.snapshot(id)));

test('stream ids are never reused; streams() lists the open ones in open order', async () => {
  const s = await session();
  assert.deepEqual(await s.open(3), [0, 1, 2]);
  await s.close([1]);
  assert.deepEqual(await s.open(), [3]);
  assert.deepEqual(await s.streams(), [0, 2, 3]);
  await s.close(null);
  assert.deepEqual(await s.streams(), []);
  assert.deepEqual(await s.open(20), Array.from({ length: 20 }, (_, i) => 4 + i)); // beyond the first capacity
  await rejects(s.open(0), ConfigurationError, /`n` must be an integer from 1/);
  await rejects(s.open(1.5), ConfigurationError, /`n` must be an integer/);
});

test('unknown, closed, repeated and malformed stream ids are UnknownStreamErrors', async () => {
  const s = await session();
  const x = new Uint8Array(FEATURES);
  await rejects(s.step(x), UnknownStreamError, /No streams to step: open some with open\(\) first/);
  const [a, b] = await s.open(2);
  await s.close(b);
  await rejects(s.step(x, [b]), UnknownStreamError, /Stream 1 was closed; open streams: \[0\] \(1\)/);
  await rejects(s.step(x, 7), UnknownStreamError, /Stream 7 was never opened/);
  await rejects(s.step(new Uint8Array(2 * FEATURES), [a, a]), UnknownStreamError, /once per call; repeated: \[0\]/);
  for (const bad of [true, 0.5, '0', [null], {}]) await rejects(s.step(x, bad), UnknownStreamError, /Stream ids|Expected stream ids/);
  await rejects(s.close([b]), UnknownStreamError, /was closed/);
});

test('inputs: flat typed arrays, number and boolean arrays, nested arrays give the same step', async () => {
  const next = random(1);
  const steps = Array.from({ length: 6 }, () => spikes(next, 2, FEATURES));
  const forms = {
    uint8: (x) => x,
    float32: (x) => Float32Array.from(x),
    float64: (x) => Float64Array.from(x),
    numbers: (x) => Array.from(x),
    booleans: (x) => Array.from(x, Boolean),
    nested: (x) => [Array.from(x.subarray(0, FEATURES)), Array.from(x.subarray(FEATURES))],
  };
  const results = {};
  for (const [form, convert] of Object.entries(forms)) {
    const s = await session();
    const ids = await s.open(2);
    results[form] = [];
    for (const x of steps) results[form].push(Array.from(await s.step(convert(x), ids)));
  }
  for (const form of Object.keys(forms)) assert.deepEqual(results[form], results.uint8, form);
  assert.ok(results.uint8.flat().some((v) => v === 1), 'the model spikes');
});

test('bad inputs raise typed errors and change no stream', async () => {
  const s = await session();
  const ids = await s.open(2);
  const next = random(2);
  for (let t = 0; t < 3; t += 1) await s.step(spikes(next, 2, FEATURES), ids);
  const before = await everything(s, ids);
  const bad = [
    [new Uint8Array(FEATURES), InputShapeError, /Expected input of shape \[streams=2, 6\]: 12 values .* got a flat array of 6 values/],
    [[[1, 0, 1, 0, 1, 0]], InputShapeError, /got nested arrays of shape \[1, 6\]/],
    [[[1, 0, 1, 0, 1, 0], [1, 0, 1]], InputShapeError, /got ragged nested arrays/],
    [[[1, 0, 1, 0, 1, 0], [1, 0, [1], 0, 1, 0]], InputShapeError, /ragged/],
    [Array(12).fill('1'), InputDTypeError, /got string/],
    [new BigInt64Array(12), InputDTypeError, /got a BigInt64Array/],
    [null, InputDTypeError, /got null/],
    [Float32Array.from({ length: 12 }, (_, i) => (i === 5 ? NaN : 0)), InputValueError, /got 1 NaN\/Inf\/out-of-range/],
    [Float64Array.from({ length: 12 }, (_, i) => (i < 2 ? 1e39 : 0)), InputValueError, /got 2 NaN\/Inf\/out-of-range value\(s\) .* \(checked as float32\)/],
    [Array(12).fill(2e6), InputValueError, /within ±1000000/],
  ];
  for (const [x, type, pattern] of bad) await rejects(s.step(x, ids), type, pattern);
  assert.deepEqual(await everything(s, ids), before);
});

test('an int8 model takes whole numbers from 0 to 255 only', async () => {
  const s = await StreamingSession.create(shipped('digits-snu/step.int8.onnx'));
  const ids = await s.open(1);
  await rejects(s.step(new Float32Array(64).fill(0.5), ids), InputValueError, /takes spikes only/);
  await rejects(s.step(new Float32Array(64).fill(-1), ids), InputValueError, /takes spikes only/);
  await rejects(s.step(new Uint8Array(64).fill(129), ids), InputValueError, /whole numbers up to 128 are exact/);
  await s.step(new Float32Array(64).fill(3), ids);
  await s.step(new Uint8Array(64).fill(128), ids);
  assert.deepEqual(await s.stepsSeen(ids), [2]);
});

test('a step that would make a state Inf is refused and changes nothing', async () => {
  const s = await session('huge-weights.onnx');
  const ids = await s.open(2);
  await s.step(new Uint8Array(2 * FEATURES), ids);
  const before = await everything(s, ids);
  await rejects(s.step(new Float32Array(2 * FEATURES).fill(1e6), ids), InputValueError, /would make a stream's state NaN or Inf/);
  assert.deepEqual(await everything(s, ids), before);
  assert.deepEqual(await s.stepsSeen(ids), [1, 1]);
});

test("a stream's outputs never depend on which streams share its batch (random schedules)", async () => {
  const next = random(3);
  const shared = await session();
  const ids = await shared.open(5);
  const alone = await Promise.all(ids.map(() => session()));
  const own = await Promise.all(alone.map((s) => s.open(1)));
  for (let round = 0; round < 60; round += 1) {
    const chosen = ids.filter(() => next() < 0.6).sort(() => next() - 0.5);
    if (!chosen.length) continue;
    if (next() < 0.1) {
      await shared.reset(chosen);
      await Promise.all(chosen.map((id) => alone[id].reset(own[id])));
      continue;
    }
    if (next() < 0.1) { // move a stream's state through a snapshot (here into itself, after a reset)
      const snap = await shared.snapshot(chosen[0]);
      await shared.reset(chosen[0]);
      await shared.restore(chosen[0], structuredClone(snap));
    }
    const x = spikes(next, chosen.length, FEATURES);
    const out = await shared.step(x, chosen);
    for (const [i, id] of chosen.entries()) {
      const mine = await alone[id].step(x.subarray(i * FEATURES, (i + 1) * FEATURES), own[id]);
      assert.deepEqual(Array.from(out.subarray(i * CLASSES, (i + 1) * CLASSES)), Array.from(mine), `round ${round}, stream ${id}`);
    }
  }
  for (const id of ids) {
    const [a, b] = [await shared.snapshot(id), await alone[id].snapshot(own[id][0])];
    assert.deepEqual(a.counts, b.counts);
    assert.equal(a.steps, b.steps);
    for (const name of Object.keys(a.states)) {
      a.states[name].forEach((v, k) => assert.ok(Math.abs(v - b.states[name][k]) <= 1e-5 * (1 + Math.abs(v)), name));
    }
  }
});

test('calls made without awaiting run in order, as if awaited one by one', async () => {
  const next = random(4);
  const xs = Array.from({ length: 12 }, (_, t) => spikes(next, t % 4 === 3 ? 2 : 3, FEATURES));
  const sequential = await session();
  const ids = await sequential.open(3);
  const expected = [];
  for (const [t, x] of xs.entries()) {
    expected.push(Array.from(await sequential.step(x, t % 4 === 3 ? [ids[2], ids[0]] : ids)));
    if (t % 4 === 3) expected.push(await sequential.predict(ids));
  }
  const concurrent = await session();
  const pending = [concurrent.open(3)];
  for (const [t, x] of xs.entries()) {
    pending.push(concurrent.step(x, t % 4 === 3 ? [ids[2], ids[0]] : ids).then(Array.from));
    if (t % 4 === 3) pending.push(concurrent.predict(ids));
  }
  const results = await Promise.all(pending);
  assert.deepEqual(results.slice(1), expected);
});

test('snapshot/restore moves a stream between sessions of the same network', async () => {
  const next = random(5);
  const a = await session();
  const [ida] = await a.open(1);
  for (let t = 0; t < 4; t += 1) await a.step(spikes(next, 1, FEATURES), ida);
  const snap = await a.snapshot(ida);
  assert.equal(snap.steps, 4);
  const b = await session('disabled-optimizers.onnx'); // the same network, another file
  const [idb] = await b.open(1);
  await b.restore(idb, snap);
  for (let t = 0; t < 4; t += 1) {
    const x = spikes(next, 1, FEATURES);
    assert.deepEqual(await b.step(x, idb), await a.step(x, ida));
  }
  assert.deepEqual(await b.spikeCounts(idb), await a.spikeCounts(ida));
  const digits = await StreamingSession.create(shipped('digits-snu/step.onnx'));
  const [idd] = await digits.open(1);
  await rejects(digits.restore(idd, snap), ConfigurationError, /does not fit this model: it holds states/);
  const broken = [
    [{ ...snap, steps: -1 }, /step count must be a non-negative integer/],
    [{ ...snap, counts: Float64Array.from([9, 0, 0]) }, /spike counts must lie between 0 and its step count/],
    [{ ...snap, last: [0, NaN, 0] }, /last must hold finite numbers/],
    [{ ...snap, counts: [1, 2] }, /counts hold 2 values; this model has 3 output classes/],
    [null, /Expected a snapshot from snapshot\(\)/],
  ];
  const before = await b.snapshot(idb);
  for (const [bad, pattern] of broken) await rejects(b.restore(idb, bad), ConfigurationError, pattern);
  assert.deepEqual(await b.snapshot(idb), before);
});

test('readouts: counts, rates, last spikes, steps, predictions (ties to the lower class), decided', async () => {
  const next = random(6);
  const s = await session();
  const ids = await s.open(4);
  const zero = await s.rates(ids);
  assert.deepEqual(Array.from(zero), Array(4 * CLASSES).fill(0));
  let counts = new Float64Array(4 * CLASSES);
  let last;
  for (let t = 0; t < 9; t += 1) {
    last = await s.step(spikes(next, 4, FEATURES, 0.6), ids);
    counts = counts.map((c, i) => c + last[i]);
  }
  assert.deepEqual(await s.spikeCounts(ids), counts);
  assert.deepEqual(await s.lastSpikes(ids), last);
  assert.deepEqual(await s.stepsSeen(ids), [9, 9, 9, 9]);
  assert.deepEqual(Array.from(await s.rates(ids)), Array.from(counts, (c) => Math.fround(c / 9)));
  const rows = ids.map((_, i) => Array.from(counts.subarray(i * CLASSES, (i + 1) * CLASSES)));
  assert.deepEqual(await s.predict(ids), rows.map((r) => r.indexOf(Math.max(...r))));
  for (const remaining of [0, 1, 3, 9]) {
    const margins = rows.map((r) => { const [a, b] = [...r].sort((p, q) => q - p); return a - b; });
    assert.deepEqual(await s.decided(remaining, ids), margins.map((m) => m > remaining));
  }
  await rejects(s.decided(-1, ids), ConfigurationError, /`remaining` must be an integer >= 0/);
  await s.reset([ids[1]]);
  assert.deepEqual(await s.stepsSeen(ids), [9, 0, 9, 9]);
  assert.deepEqual(await s.predict([ids[1]]), [0]); // all counts tie at zero: the lower class
  assert.deepEqual(Array.from(await s.spikeCounts([ids[1]])), [0, 0, 0]);
});

test('a reset stream starts again from zero state', async () => {
  const next = random(7);
  const xs = Array.from({ length: 5 }, () => spikes(next, 1, FEATURES, 0.7));
  const s = await session();
  const [id] = await s.open(1);
  const first = [];
  for (const x of xs) first.push(Array.from(await s.step(x, id)));
  await s.reset(id);
  const again = [];
  for (const x of xs) again.push(Array.from(await s.step(x, id)));
  assert.deepEqual(again, first);
});

test('N-D input: x as [S, 6, 6, 1], nested, flat, or nested with each step flattened ([S, 36])', async () => {
  const next = random(8);
  const sessions = await Promise.all([0, 1, 2].map(() => session('conv.onnx')));
  const ids = await Promise.all(sessions.map((s) => s.open(2)));
  const rows = (x, n) => Array.from({ length: n }, (_, i) => Array.from(x.subarray(i * x.length / n, (i + 1) * x.length / n)));
  for (let t = 0; t < 6; t += 1) {
    const x = spikes(next, 2, 36);
    const nested = rows(x, 2).map((image) => rows(Uint8Array.from(image), 6).map((row) => row.map((v) => [v])));
    const outs = await Promise.all([sessions[0].step(x, ids[0]), sessions[1].step(nested, ids[1]), sessions[2].step(rows(x, 2), ids[2])]);
    assert.deepEqual(outs[1], outs[0]);
    assert.deepEqual(outs[2], outs[0]);
  }
  await rejects(sessions[1].step([Array(36).fill(0)], ids[1]), InputShapeError,
    /Expected input of shape \[streams=2, 6, 6, 1\], got nested arrays of shape \[1, 36\]/);
});

test('a released session refuses further calls', async () => {
  const s = await session();
  await s.release();
  await rejects(s.open(1), ConfigurationError, /was released/);
});

test('membrane readouts predict from the last output or its running maximum, decided only when no step remains', async () => {
  const next = random(10);
  const xs = Array.from({ length: 6 }, () => spikes(next, 3, FEATURES, 0.5));
  for (const reduce of ['last', 'max']) {
    const s = await session(`membrane-${reduce}.onnx`);
    assert.deepEqual(s.info.readout, { kind: 'membrane', reduce });
    const ids = await s.open(3);
    const peak = new Float32Array(3 * CLASSES).fill(-Infinity);
    let last;
    for (const x of xs) {
      last = await s.step(x, ids);
      last.forEach((v, i) => { peak[i] = Math.max(peak[i], v); });
    }
    const values = reduce === 'last' ? last : peak;
    const rows = ids.map((_, i) => Array.from(values.subarray(i * CLASSES, (i + 1) * CLASSES)));
    assert.deepEqual(await s.predict(ids), rows.map((r) => r.indexOf(Math.max(...r))), reduce);
    assert.deepEqual(await s.rates(ids), values);
    assert.deepEqual(await s.decided(1, ids), [false, false, false]);
    assert.deepEqual(await s.decided(0, ids), [true, true, true]);
    const snap = await s.snapshot(ids[0]);
    assert.deepEqual(snap.peak, peak.subarray(0, CLASSES));
    await s.reset(ids[0]);
    assert.deepEqual(Array.from((await s.snapshot(ids[0])).peak), [-Infinity, -Infinity, -Infinity]);
    await s.restore(ids[0], snap);
    assert.deepEqual(await s.predict(ids), rows.map((r) => r.indexOf(Math.max(...r))));
    await rejects(s.restore(ids[0], { ...snap, peak: [0, Infinity, 0] }), ConfigurationError, /peak must hold finite numbers/);
  }
});
