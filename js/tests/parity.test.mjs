// The shipped reference models streamed in Node match the Python runtime spike for spike: encoded test
// splits stepped, and raw sequences fed (encoded by the runtime as Python encodes them).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { StreamingSession } from 'snudeploy-runtime';
import { StreamingSession as WebSession } from '../src/browser.js';
import { stepEncoder } from '../src/encoding.js';
import { encodedDigest, feedFixture, streamFixture } from './parity.mjs';

const ROOT = new URL('../../', import.meta.url);
const FIXTURES = new URL('fixtures/', import.meta.url);
const { cases, feed, sequences } = JSON.parse(await readFile(new URL('parity.json', FIXTURES), 'utf8'));

async function fixture(entry) {
  return {
    ...entry,
    inputsBytes: await readFile(new URL(entry.inputs, FIXTURES)),
    spikesBytes: await readFile(new URL(entry.spikes, FIXTURES)),
  };
}

async function feedData(entry) {
  const data = sequences[entry.sequences];
  return {
    ...entry, lengths: data.lengths,
    rawBytes: await readFile(new URL(data.raw, FIXTURES)),
    outputsBytes: await readFile(new URL(entry.outputs, FIXTURES)),
    anytimeBytes: await readFile(new URL(entry.anytime, FIXTURES)),
  };
}

for (const entry of cases) {
  // 32 streams per batch, as `snudeploy run` streams; Python stepped all samples as one batch.
  test(`${entry.model}: ${entry.split} spike for spike (onnxruntime-node)`, async () => {
    const session = await StreamingSession.create(new URL(entry.model, ROOT), { threads: 1 });
    const result = await streamFixture(session, await fixture(entry), 32);
    await session.release();
    assert.ok(result.spikes > 0, 'the fixture has output spikes');
    assert.equal(result.mismatches, 0, `${result.mismatches} of ${entry.samples * entry.timesteps * entry.classes} outputs differ`);
    assert.deepEqual(result.predictions, entry.predictions);
  });
}

// The browser's WebAssembly kernels, run in Node: the digits and conv models with every sample in one batch.
for (const entry of cases.filter((c) => !c.model.startsWith('models/fashion-mnist-snu/'))) {
  test(`${entry.model}: ${entry.split} spike for spike (onnxruntime-web, wasm)`, async () => {
    const bytes = await readFile(new URL(entry.model, ROOT));
    const session = await WebSession.create(bytes);
    const result = await streamFixture(session, await fixture(entry), entry.samples);
    await session.release();
    assert.equal(result.mismatches, 0);
    assert.deepEqual(result.predictions, entry.predictions);
  });
}

// Raw sequences fed, each stream for its own length: every step's outputs, predict() and decided(steps left).
for (const entry of feed) {
  const what = `${entry.samples} ${entry.sequences} test sequences fed raw (${entry.encoding} encoding, ` +
    `${entry.readout.kind}${entry.readout.reduce ? ` ${entry.readout.reduce}` : ''} readout)`;
  test(`${what}: the encoded input is Python's bit for bit`, async () => {
    const session = await StreamingSession.create(new URL(entry.models[0], ROOT));
    assert.equal(await encodedDigest(stepEncoder(session.info.encoding), await feedData(entry)), entry.encoded_sha256);
    await session.release();
  });
  for (const [runtime, Session, batch] of [['onnxruntime-node', StreamingSession, 32], ['onnxruntime-web, wasm', WebSession, entry.samples]]) {
    for (const model of entry.models) {
      test(`${model}: ${what}, as Python (${runtime})`, async (t) => {
        const session = await Session.create(await readFile(new URL(model, ROOT)), { threads: 1 });
        const result = await feedFixture(session, await feedData(entry), batch);
        await session.release();
        if (entry.output_spikes === null) t.diagnostic(`largest membrane difference ${result.maxDifference}`);
        if (entry.output_spikes !== null) assert.equal(result.spikes, entry.output_spikes, 'the fixture has output spikes');
        assert.equal(result.mismatches, 0, `${result.mismatches} outputs differ (largest difference ${result.maxDifference})`);
        assert.deepEqual([result.wrongAnytime, result.wrongDecided], [0, 0], 'predict() and decided() after every step');
        assert.deepEqual(result.predictions, entry.predictions);
      });
    }
  }
}
