/**
 * Streaming a parity fixture (tests/fixtures/make_fixtures.py) through a StreamingSession and
 * comparing it with the Python runtime spike for spike. Plain ES module: the Node tests and the
 * browser test (tests/browser.mjs, in Chromium) share it.
 */

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
