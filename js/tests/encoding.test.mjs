// The encoders: the deterministic ones (feed) give Python's encoded input bit for bit, from the metadata
// alone; the seeded rate encoder is reproducible, with the rate the metadata asks for.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { ConfigurationError, InputValueError, RateEncoder } from 'snudeploy-runtime';
import { stepEncoder } from '../src/encoding.js';
import { parse } from '../src/metadata.js';

const { cases } = JSON.parse(await readFile(new URL('fixtures/encoders.json', import.meta.url), 'utf8'));

/** A model's parsed metadata with `encoding` (6 input values, as `metadata.parse` reads it from a file). */
function withEncoding(encoding, features = 6) {
  return parse(JSON.stringify({
    schema_version: 3, format: 'step', graph: 'step', input: { name: 'x', shape: [features] },
    layers: [{ kind: 'snu', units: 2, output_shape: [2] }],
    states: [{ layer: 0, kind: 'y', input: 'l0_y', output: 'l0_y_next', shape: [null, 2] }], encoding,
  }));
}

/** `encoder` stepped over `raw` [S][T][F] from zero state: the encoded input [S][T][C]. */
function encode(encoder, raw) {
  const [streams, steps] = [raw.length, raw[0].length];
  let state = Object.fromEntries(Object.entries(encoder.state).map(([name, size]) => [name, new Float32Array(streams * size)]));
  const out = raw.map(() => []);
  for (let t = 0; t < steps; t += 1) {
    const step = encoder.step(Float32Array.from(raw.flatMap((stream) => stream[t])), state, streams);
    const channels = step.input.length / streams;
    raw.forEach((_, s) => out[s].push(Array.from(step.input.subarray(s * channels, (s + 1) * channels))));
    state = step.state;
  }
  return out;
}

for (const { encoding, raw, encoded, other_arithmetic_differs: differs } of cases) {
  const where = differs ? `, with ${differs} values where other arithmetic gives another input` : '';
  test(`${encoding.kind}: Python's encoded input bit for bit${where}`, () => {
    const encoder = stepEncoder(withEncoding(encoding, encoded[0][0].length).encoding);
    assert.equal(encoder.kind, encoding.kind);
    assert.deepEqual(encode(encoder, raw), encoded);
    if (encoding.kind !== 'spikes') assert.ok(differs > 0, 'the fixture holds values where float64 (latency: float32) arithmetic differs');
  });
}

test('an encoder step changes neither its input nor the state it was given', () => {
  const encoder = stepEncoder(withEncoding({ kind: 'delta', mean: [0, 1, 2], scale: [1, 1, 1], threshold: [0.5, 0.5, 0.5] }).encoding);
  const raw = Float32Array.from([0, 1, 2, 5, 5, 5]);
  const state = { reference: Float32Array.from([0, 0, 0, 1, 1, 1]), started: Float32Array.from([1, 1]) };
  const copies = [raw.slice(), state.reference.slice(), state.started.slice()];
  const { input, state: next } = encoder.step(raw, state, 2);
  assert.deepEqual([raw, state.reference, state.started], copies);
  assert.deepEqual(Array.from(input), [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0]); // stream 0: no change; stream 1: z = 5, 4, 3 >= r + 0.5
  assert.deepEqual(Array.from(next.reference), [0, 0, 0, 5, 4, 3]);
});

test('feed runs the deterministic kinds only; spikes must be 0 or 1; normalising needs a fitted encoding', () => {
  assert.equal(stepEncoder(withEncoding({ kind: 'rate', timesteps: 20, max_spikes: 6, seed: 0 }).encoding), null);
  assert.equal(stepEncoder(withEncoding({ kind: 'a_kind_from_the_future' }).encoding), null);
  assert.equal(stepEncoder(null), null);
  const spikes = stepEncoder(withEncoding({ kind: 'spikes', timesteps: 5 }).encoding);
  assert.throws(() => spikes.step(Float32Array.from([0, 1, 0.5]), {}, 1), (e) => e instanceof InputValueError && /feed 0 or 1 values only/.test(e.message));
  const unfitted = stepEncoder(withEncoding({ kind: 'direct' }).encoding);
  assert.equal(unfitted.rawFeatures, null);
  assert.throws(() => unfitted.step(new Float32Array(6), {}, 1), (e) => e instanceof ConfigurationError && /not fitted/.test(e.message));
});

const ENCODING = { kind: 'rate', timesteps: 20, maxSpikes: 15, seed: 0 };

test('the same seed gives the same spikes; another seed others; calls continue the stream', () => {
  const values = Array.from({ length: 64 }, (_, i) => (i % 17) / 16);
  const a = new RateEncoder(ENCODING, 5);
  const b = new RateEncoder(ENCODING, 5);
  const first = a.encode(values);
  assert.deepEqual(b.encode(values), first);
  assert.notDeepEqual(a.encode(values), first);
  assert.notDeepEqual(new RateEncoder(ENCODING, 6).encode(values), first);
  assert.equal(first.length, 20 * 64);
});

test('each value fires maxSpikes times over the timesteps on average; 0 never, 1 at p = 0.75', () => {
  const encoder = new RateEncoder(ENCODING, 1);
  const features = 4096;
  const values = Array.from({ length: features }, (_, f) => [0, 0.2, 1, 0.5][f % 4]);
  const spikes = encoder.encode(values);
  const mean = [0, 0, 0, 0];
  spikes.forEach((s, i) => { mean[(i % features) % 4] += s / (features / 4); });
  // Expected spikes per value over 20 steps: 15 × value; with 1,024 features a value, the standard error is below 0.07.
  [0, 3, 15, 7.5].forEach((want, k) => assert.ok(Math.abs(mean[k] - want) < 0.35, `value ${values[k]}: ${mean[k]} spikes, expected ${want}`));
});

test('encoder arguments and values are checked', () => {
  assert.throws(() => new RateEncoder({ kind: 'delta' }), ConfigurationError);
  assert.throws(() => new RateEncoder({ ...ENCODING, maxSpikes: 21 }), /`maxSpikes` must be a number from 0 to 20/);
  assert.throws(() => new RateEncoder(ENCODING, 0.5), /`seed` must be an integer/);
  assert.throws(() => new RateEncoder(ENCODING).encode([0.5, 1.5]), InputValueError);
  assert.throws(() => new RateEncoder(ENCODING).encode([NaN]), InputValueError);
});
