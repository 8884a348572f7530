/**
 * Streaming a parity fixture (tests/fixtures/make_fixtures.py) through a StreamingSession and
 * comparing it with the Python runtime spike for spike: encoded inputs stepped (`streamFixture`),
 * raw sequences fed (`feedFixture`), and the encoded input of those sequences (`encodedDigest`).
 * Plain ES module: the Node tests and the browser test (tests/browser.mjs, in Chromium) share it.
 */

/**
 * Membrane values (a leaky-integrator output, float sums of weights) may round differently in another
 * ONNX Runtime build's kernels (native or WebAssembly, another CPU's instruction set): they are compared
 * with the tolerance the Python runtime's tests use between ONNX Runtime and the numpy oracle. A spike
 * that flipped upstream changes a value by a weight (~0.1 to 1), far beyond it; spikes stay exact.
 */
export const MEMBRANE_TOLERANCE = Object.freeze({ atol: 1e-5, rtol: 1e-5 });

/** numpy.packbits' bits, most significant first, as one byte (0/1) each. */
export function unpack(packed, count) {
  const bits = new Uint8Array(count);
  for (let i = 0; i < count; i += 1) bits[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1;
  return bits;
}

/**
 * Stream every sample of `fixture` through `session`, `batch` streams at a time.
 *
 * @param fixture one entry of parity.json's cases, plus `inputs` and `spikes` as packed bytes.
 * @returns {Promise<{mismatches: number, spikes: number, predictions: number[], wrongPredictions: number}>}
 *   mismatches: output positions (sample, step, class) where the spikes differ from Python's.
 */
export async function streamFixture(session, fixture, batch) {
  const { samples: n, timesteps: steps, features: f, classes: c } = fixture;
  const inputs = unpack(fixture.inputsBytes, n * steps * f);
  const expected = unpack(fixture.spikesBytes, n * steps * c);
  let mismatches = 0;
  let spikes = 0;
  const predictions = [];
  for (let start = 0; start < n; start += batch) {
    const rows = Math.min(batch, n - start);
    const ids = await session.open(rows);
    const x = new Uint8Array(rows * f);
    for (let t = 0; t < steps; t += 1) {
      for (let r = 0; r < rows; r += 1) {
        const from = ((start + r) * steps + t) * f;
        x.set(inputs.subarray(from, from + f), r * f);
      }
      const out = await session.step(x, ids);
      for (let r = 0; r < rows; r += 1) {
        for (let k = 0; k < c; k += 1) {
          const want = expected[((start + r) * steps + t) * c + k];
          spikes += want;
          if (out[r * c + k] !== want) mismatches += 1;
        }
      }
    }
    predictions.push(...await session.predict(ids));
    await session.close(ids);
  }
  const wrongPredictions = predictions.filter((p, i) => p !== fixture.predictions[i]).length;
  return { mismatches, spikes, predictions, wrongPredictions };
}

/** A little-endian float32 file's values. */
export function float32s(bytes, count = bytes.byteLength / 4) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, true));
}

/** Where each sequence's valid steps begin in the fixture's step-major arrays, and their total. */
function offsets(lengths) {
  const starts = [];
  let total = 0;
  for (const n of lengths) {
    starts.push(total);
    total += n;
  }
  return { starts, total };
}

/**
 * Feed every sequence of a feed fixture (parity.json's `feed` cases) through `session.feed`, each stream
 * for its own length, `batch` streams at a time, and compare with the Python runtime after every step:
 * the outputs (spikes exactly; membrane values within `tolerance`: |js - python| <= atol + rtol |python|),
 * `predict()` and `decided(steps left)`.
 *
 * @param fixture a feed case plus `lengths` (of its sequences) and the files as bytes: `rawBytes`,
 *   `outputsBytes`, `anytimeBytes`.
 * @returns {Promise<{mismatches: number, maxDifference: number, spikes: number, wrongAnytime: number,
 *   wrongDecided: number, predictions: number[]}>} mismatches: outputs (sequence, step, class) beyond
 *   the tolerance (spikes: any difference); wrongAnytime/wrongDecided: (sequence, step) pairs whose
 *   prediction or decided flag after that step differs from Python's.
 */
export async function feedFixture(session, fixture, batch, tolerance = MEMBRANE_TOLERANCE) {
  const { samples: n, raw_features: f, classes: c } = fixture;
  const lengths = fixture.lengths.slice(0, n);
  const { starts, total } = offsets(lengths);
  const raw = float32s(fixture.rawBytes, total * f);
  const spiking = fixture.readout.kind !== 'membrane';
  const expected = spiking ? unpack(fixture.outputsBytes, total * c) : float32s(fixture.outputsBytes);
  const anytime = fixture.anytimeBytes; // [total, 2]: predict() and decided(steps left) after each step
  const result = { mismatches: 0, maxDifference: 0, spikes: 0, wrongAnytime: 0, wrongDecided: 0, predictions: [] };
  for (let start = 0; start < n; start += batch) {
    const rows = Array.from({ length: Math.min(batch, n - start) }, (_, i) => start + i);
    const ids = await session.open(rows.length);
    const longest = Math.max(...rows.map((r) => lengths[r]));
    for (let t = 0; t < longest; t += 1) {
      const live = rows.map((r, i) => i).filter((i) => lengths[rows[i]] > t);
      const at = live.map((i) => starts[rows[i]] + t); // each live stream's step in the fixture's arrays
      const x = new Float32Array(live.length * f);
      at.forEach((step, k) => x.set(raw.subarray(step * f, (step + 1) * f), k * f));
      const liveIds = live.map((i) => ids[i]);
      const out = await session.feed(x, liveIds);
      at.forEach((step, k) => {
        for (let j = 0; j < c; j += 1) {
          const [want, got] = [expected[step * c + j], out[k * c + j]];
          const difference = Math.abs(got - want);
          result.spikes += spiking ? want : 0;
          result.maxDifference = Math.max(result.maxDifference, difference);
          if (!(difference <= tolerance.atol + tolerance.rtol * Math.abs(want))) result.mismatches += 1;
        }
      });
      (await session.predict(liveIds)).forEach((p, k) => { if (p !== anytime[2 * at[k]]) result.wrongAnytime += 1; });
      const left = live.map((i) => lengths[rows[i]] - t - 1);
      for (const remaining of new Set(left)) {
        const same = live.map((_, k) => k).filter((k) => left[k] === remaining);
        const decided = await session.decided(remaining, same.map((k) => liveIds[k]));
        decided.forEach((d, m) => { if (Number(d) !== anytime[2 * at[same[m]] + 1]) result.wrongDecided += 1; });
      }
    }
    result.predictions.push(...await session.predict(ids));
    await session.close(ids);
  }
  return result;
}

/**
 * The SHA-256 (hex) of a feed fixture's sequences encoded by `encoder` (encoding.js), each from zero state:
 * float32 little-endian, sequence by sequence, as make_fixtures.py hashes Python's encoded input.
 */
export async function encodedDigest(encoder, fixture) {
  const { samples: n, raw_features: f } = fixture;
  const lengths = fixture.lengths.slice(0, n);
  const { total } = offsets(lengths);
  const raw = float32s(fixture.rawBytes, total * f);
  const parts = [];
  let at = 0;
  for (const length of lengths) {
    let state = Object.fromEntries(Object.entries(encoder.state).map(([name, size]) => [name, new Float32Array(size)]));
    for (let t = 0; t < length; t += 1, at += 1) {
      const step = encoder.step(raw.subarray(at * f, (at + 1) * f), state, 1);
      parts.push(step.input);
      state = step.state;
    }
  }
  const bytes = new DataView(new ArrayBuffer(parts.reduce((sum, p) => sum + 4 * p.length, 0)));
  let offset = 0;
  for (const part of parts) for (const v of part) { bytes.setFloat32(offset, v, true); offset += 4; }
  const hash = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes.buffer));
  return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
}
