// The demo page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// a test image and a drawn digit streamed in the tab give the predictions and counts the Node
// runtime gives for the same values and seed; the page's screenshot shows the raster; the digits and
// conv parity fixtures streamed by onnxruntime-web in Chromium match Python spike for spike; and raw
// sequences fed in Chromium (feed) give Python's encoded input, outputs and anytime readouts.
// Run: npm run test:browser (CHROMIUM=/path/to/chromium to use another build).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { RateEncoder, StreamingSession } from 'snudeploy-runtime';
import { serve } from '../demo/serve.mjs';
import { shipped } from './helpers.mjs';

// Playwright adds --headless itself (headless: true) and the profile (a fresh --user-data-dir).
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
let server;
let context;
let page;
const problems = [];

before(async () => {
  const served = await serve({ port: 0 });
  server = served.server;
  const profile = await mkdtemp(join(tmpdir(), 'snudeploy-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS, viewport: { width: 1280, height: 640 },
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  await page.goto(`${served.url}/js/demo/?delay=0`);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
});

after(async () => {
  await context?.close();
  server?.close();
});

/** Stream the page's current input; its prediction, counts and 8x8 values. */
async function streamOnPage(seed) {
  await page.fill('#seed', String(seed));
  await page.click('#run');
  await page.waitForSelector('body[data-state="done"]', { timeout: 60_000 });
  return page.evaluate(() => ({
    prediction: Number(document.querySelector('#prediction').dataset.class),
    counts: JSON.parse(document.body.dataset.counts),
    values: JSON.parse(document.querySelector('#grid').dataset.values),
  }));
}

/** The same input and seed through the Node runtime (onnxruntime-node). */
async function streamInNode(values, seed) {
  const session = await StreamingSession.create(shipped('digits-snu/step.onnx'));
  const [id] = await session.open(1);
  const encoder = new RateEncoder(session.info.encoding, seed);
  const spikes = encoder.encode(values);
  for (let t = 0; t < encoder.timesteps; t += 1) await session.step(spikes.subarray(t * 64, (t + 1) * 64), id);
  const result = { prediction: (await session.predict(id))[0], counts: Array.from(await session.spikeCounts(id)) };
  await session.release();
  return result;
}

test('a test image streamed in the page: the Node runtime\'s prediction and counts, and its label', async () => {
  const { images, labels } = JSON.parse(await readFile(new URL('../demo/digits-test.json', import.meta.url), 'utf8'));
  await page.click('#thumbs button[data-index="0"]');
  const result = await streamOnPage(3);
  assert.deepEqual(result.values, images[0].map(Math.fround));
  assert.deepEqual(result, { ...(await streamInNode(images[0], 3)), values: result.values });
  assert.equal(result.prediction, labels[0]);
  assert.ok(result.counts.reduce((a, b) => a + b) > 0);
});

test('a drawn digit streamed in the page; the screenshot shows the raster', async () => {
  await page.click('#clear');
  const box = await page.locator('#pad').boundingBox();
  const stroke = async (points) => {
    await page.mouse.move(box.x + points[0][0], box.y + points[0][1]);
    await page.mouse.down();
    for (const [x, y] of points.slice(1)) await page.mouse.move(box.x + x, box.y + y, { steps: 8 });
    await page.mouse.up();
  };
  await stroke([[60, 40], [140, 40], [95, 165]]); // a 7
  const result = await streamOnPage(11);
  assert.ok(result.values.some((v) => v > 0.5), 'the drawing reached the 8x8 grid');
  assert.deepEqual({ prediction: result.prediction, counts: result.counts }, await streamInNode(result.values, 11));
  const lit = await page.evaluate(() => [...document.querySelectorAll('#raster canvas')].map((canvas) => {
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) n += data[i] + data[i + 1] + data[i + 2] > 0 ? 1 : 0;
    return n;
  }));
  assert.equal(lit.length, 4);
  assert.ok(lit.every((n) => n > 0), `every layer's raster shows spikes: ${lit}`);
  const png = await page.screenshot({ fullPage: true });
  assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
  const path = process.env.SCREENSHOT ?? join(tmpdir(), 'snudeploy-demo.png');
  await writeFile(path, png);
  console.log(`screenshot: ${path}; prediction ${result.prediction}`);
});

test('the digits and conv parity fixtures streamed by onnxruntime-web in Chromium match Python spike for spike', async () => {
  const results = await page.evaluate(async () => {
    const { StreamingSession: Session } = await import('/js/src/browser.js');
    const { streamFixture } = await import('/js/tests/parity.mjs');
    const get = async (path) => new Uint8Array(await (await fetch(path)).arrayBuffer());
    const { cases } = await (await fetch('/js/tests/fixtures/parity.json')).json();
    const out = [];
    for (const entry of cases.filter((c) => !c.model.startsWith('models/fashion-mnist-snu/'))) {
      const session = await Session.create(`/${entry.model}`);
      const fixture = { ...entry, inputsBytes: await get(`/js/tests/fixtures/${entry.inputs}`),
        spikesBytes: await get(`/js/tests/fixtures/${entry.spikes}`) };
      const result = await streamFixture(session, fixture, 32);
      await session.release();
      out.push({ model: entry.model, mismatches: result.mismatches, spikes: result.spikes, wrongPredictions: result.wrongPredictions });
    }
    return out;
  });
  assert.deepEqual(results.map((r) => r.model), ['models/digits-snu/step.onnx', 'models/digits-snu/step.int8.onnx',
    'js/tests/fixtures/models/conv.onnx', 'js/tests/fixtures/models/conv.int8.onnx']);
  for (const r of results) assert.deepEqual([r.mismatches, r.wrongPredictions], [0, 0], JSON.stringify(r));
});

test('raw sequences fed by onnxruntime-web in Chromium: Python\'s encoded input, outputs, predictions and decided', async () => {
  const results = await page.evaluate(async () => {
    const { StreamingSession: Session } = await import('/js/src/browser.js');
    const { stepEncoder } = await import('/js/src/encoding.js');
    const { encodedDigest, feedFixture } = await import('/js/tests/parity.mjs');
    const get = async (path) => new Uint8Array(await (await fetch(path)).arrayBuffer());
    const { feed, sequences } = await (await fetch('/js/tests/fixtures/parity.json')).json();
    const out = [];
    for (const entry of feed) {
      const data = sequences[entry.sequences];
      const fixture = { ...entry, lengths: data.lengths, rawBytes: await get(`/js/tests/fixtures/${data.raw}`),
        outputsBytes: await get(`/js/tests/fixtures/${entry.outputs}`), anytimeBytes: await get(`/js/tests/fixtures/${entry.anytime}`) };
      for (const model of entry.models) {
        const session = await Session.create(`/${model}`);
        const digest = await encodedDigest(stepEncoder(session.info.encoding), fixture);
        const result = await feedFixture(session, fixture, 32);
        await session.release();
        out.push({ model, sameEncoding: digest === entry.encoded_sha256, mismatches: result.mismatches, spikes: result.spikes,
          wrongAnytime: result.wrongAnytime, wrongDecided: result.wrongDecided,
          wrongPredictions: result.predictions.filter((p, i) => p !== entry.predictions[i]).length });
      }
    }
    return out;
  });
  assert.deepEqual(results.map((r) => r.model), ['models/japanese-vowels-snu/step.onnx', 'models/japanese-vowels-snu/customop_step.onnx',
    'models/japanese-vowels-snu/customop.onnx', 'js/tests/fixtures/models/delta-vowels.onnx', 'js/tests/fixtures/models/delta-vowels-membrane.onnx']);
  for (const r of results) {
    assert.deepEqual([r.sameEncoding, r.mismatches, r.wrongAnytime, r.wrongDecided, r.wrongPredictions], [true, 0, 0, 0, 0], JSON.stringify(r));
  }
  assert.ok(results[3].spikes > 0, 'the delta network spikes');
});

test('the page logged no errors', () => {
  assert.deepEqual(problems, []);
});
