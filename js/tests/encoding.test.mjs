// The seeded rate encoder: reproducible, with the rate the metadata asks for.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConfigurationError, InputValueError, RateEncoder } from 'snudeploy-runtime';

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
