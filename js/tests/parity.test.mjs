// The shipped reference models streamed in Node match the Python runtime spike for spike.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { StreamingSession } from 'snudeploy-runtime';
import { StreamingSession as WebSession } from '../src/browser.js';
import { streamFixture } from './parity.mjs';

const ROOT = new URL('../../', import.meta.url);
const FIXTURES = new URL('fixtures/', import.meta.url);
const { cases } = JSON.parse(await readFile(new URL('parity.json', FIXTURES), 'utf8'));

async function fixture(entry) {
  return {
    ...entry,
    inputsBytes: await readFile(new URL(entry.inputs, FIXTURES)),
    spikesBytes: await readFile(new URL(entry.spikes, FIXTURES)),
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
