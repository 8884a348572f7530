// The demo page: draw a digit (or pick a test image), encode it as the model's training did
// (rate coding, seeded), and stream it step by step through the digits SNU in this tab.
import { RateEncoder, StreamingSession } from '../src/browser.js';

const $ = (id) => document.getElementById(id);
const delay = Number(new URLSearchParams(location.search).get('delay') ?? 70);
const PAD = 192;
const COLORS = ['#74c0fc', '#ffd43b', '#ff922b', '#ff6b6b'];

let session = null;
let stream = null;
let values = new Float32Array(64);

function setState(state) {
  document.body.dataset.state = state;
  $('run').disabled = state !== 'ready' && state !== 'done';
}

function fail(error) {
  $('error').textContent = `${error.name}: ${error.message}`;
  document.body.dataset.state = 'error';
}

async function load(url) {
  setState('loading');
  $('status').textContent = `loading ${url} ...`;
  if (session) await session.release();
  session = await StreamingSession.create(url);
  [stream] = await session.open(1);
  $('status').textContent = `${session.info.quantization.method === 'none' ? 'float' : 'int8'} model on ${session.runtime}, ` +
    `T = ${session.info.encoding.timesteps} steps`;
  buildRaster();
  buildBars();
  setState('ready');
}

// -- input: the drawing pad, test images, the 8x8 grid --------------------------------------

const pad = $('pad').getContext('2d', { willReadFrequently: true });

function clearPad() {
  pad.fillStyle = '#000';
  pad.fillRect(0, 0, PAD, PAD);
}

function setupPad() {
  clearPad();
  let drawing = false;
  const at = (event) => {
    const box = $('pad').getBoundingClientRect();
    return [(event.clientX - box.left) * (PAD / box.width), (event.clientY - box.top) * (PAD / box.height)];
  };
  $('pad').addEventListener('pointerdown', (event) => {
    drawing = true;
    $('pad').setPointerCapture(event.pointerId);
    pad.beginPath();
    pad.moveTo(...at(event));
  });
  $('pad').addEventListener('pointermove', (event) => {
    if (!drawing) return;
    Object.assign(pad, { strokeStyle: '#fff', lineWidth: 26, lineCap: 'round', lineJoin: 'round' });
    pad.lineTo(...at(event));
    pad.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    selectThumb(null);
    setValues(downsample());
  };
  $('pad').addEventListener('pointerup', end);
  $('pad').addEventListener('pointerleave', end);
  $('clear').addEventListener('click', () => {
    clearPad();
    setValues(new Float32Array(64));
  });
}

/**
 * The drawing as scikit-learn's digits are made: the ink's bounding square scaled to 32x32,
 * then the mean of each 4x4 block (0..16 in the dataset, here 0..1): 8x8 values.
 */
function downsample() {
  const ink = pad.getImageData(0, 0, PAD, PAD).data;
  let [left, top, right, bottom] = [PAD, PAD, -1, -1];
  for (let y = 0; y < PAD; y += 1) {
    for (let x = 0; x < PAD; x += 1) {
      if (ink[(y * PAD + x) * 4] > 32) [left, top, right, bottom] = [Math.min(left, x), Math.min(top, y), Math.max(right, x), Math.max(bottom, y)];
    }
  }
  if (right < 0) return new Float32Array(64);
  const side = Math.max(right - left, bottom - top) + 1;
  const [cx, cy] = [(left + right) / 2, (top + bottom) / 2];
  const small = new OffscreenCanvas(32, 32).getContext('2d', { willReadFrequently: true });
  small.imageSmoothingQuality = 'high';
  small.drawImage($('pad'), cx - side / 2, cy - side / 2, side, side, 0, 0, 32, 32);
  const pixels = small.getImageData(0, 0, 32, 32).data;
  const out = new Float32Array(64);
  for (let y = 0; y < 32; y += 1) for (let x = 0; x < 32; x += 1) out[(y >> 2) * 8 + (x >> 2)] += pixels[(y * 32 + x) * 4] / 255 / 16;
  return out.map((v) => Math.min(1, v));
}

function paintGrid(context, image) {
  const data = context.createImageData(8, 8);
  image.forEach((v, i) => data.data.set([255 * v, 255 * v, 255 * v, 255], i * 4));
  context.putImageData(data, 0, 0);
}

function setValues(image) {
  values = Float32Array.from(image);
  paintGrid($('grid').getContext('2d'), values);
  $('grid').dataset.values = JSON.stringify(Array.from(values));
}

function selectThumb(index) {
  document.querySelectorAll('#thumbs button').forEach((b, i) => b.classList.toggle('on', i === index));
}

async function setupThumbs() {
  const { images, labels } = await (await fetch('digits-test.json')).json();
  images.forEach((image, i) => {
    const button = document.createElement('button');
    button.title = `test image ${i} (label ${labels[i]})`;
    button.dataset.index = i;
    const canvas = Object.assign(document.createElement('canvas'), { width: 8, height: 8 });
    paintGrid(canvas.getContext('2d'), image);
    button.append(canvas);
    button.addEventListener('click', () => {
      selectThumb(i);
      pad.imageSmoothingEnabled = false;
      pad.drawImage(canvas, 0, 0, PAD, PAD);
      setValues(image);
    });
    $('thumbs').append(button);
  });
}

// -- output: raster and prediction ----------------------------------------------------------

let rasters = [];

/** One raster per layer, the input first: a column per time step, a row per neuron. */
function buildRaster() {
  const T = session.info.encoding.timesteps;
  const spiking = session.info.layers.map((layer, i) => session.info.states.find((s) => s.layer === i && s.kind === 'y'));
  const rows = [['input', session.features, null], ...spiking.map((state, i) => [
    i === spiking.length - 1 ? 'output' : `layer ${i + 1}`, state.size, state.input])];
  $('raster').replaceChildren();
  rasters = rows.map(([label, size, state], i) => {
    const cell = size > 100 ? [8, 1] : size > 20 ? [8, 3] : [8, 8];
    const canvas = Object.assign(document.createElement('canvas'), { width: T * cell[0], height: size * cell[1] });
    canvas.dataset.layer = label;
    const name = Object.assign(document.createElement('span'), { textContent: `${label} (${size})` });
    $('raster').append(name, canvas);
    return { canvas, context: canvas.getContext('2d'), cell, state, color: COLORS[Math.min(i, COLORS.length - 1)] };
  });
}

function paintColumn(raster, t, spikes) {
  const [w, h] = raster.cell;
  raster.context.fillStyle = raster.color;
  spikes.forEach((s, j) => { if (s > 0) raster.context.fillRect(t * w, j * h, w - 1, h); });
}

function buildBars() {
  $('bars').replaceChildren();
  for (let k = 0; k < session.classes; k += 1) {
    const bar = Object.assign(document.createElement('div'), { className: 'bar' });
    $('bars').append(Object.assign(document.createElement('span'), { textContent: k }), bar,
      Object.assign(document.createElement('span'), { textContent: '0' }));
  }
  $('prediction').textContent = '–';
  $('decided').textContent = '';
}

function paintBars(counts, leader, steps) {
  const cells = $('bars').children;
  counts.forEach((count, k) => {
    cells[3 * k + 1].style.width = `${Math.max(2, (180 * count) / steps)}px`;
    cells[3 * k + 1].classList.toggle('lead', k === leader);
    cells[3 * k + 2].textContent = count;
  });
}

async function stream_() {
  setState('running');
  buildRaster();
  buildBars();
  await session.reset(stream);
  const encoder = new RateEncoder(session.info.encoding, Number($('seed').value) | 0);
  const spikes = encoder.encode(values);
  const T = encoder.timesteps;
  const F = session.features;
  let decidedAt = null;
  let counts = [];
  for (let t = 0; t < T; t += 1) {
    const x = spikes.subarray(t * F, (t + 1) * F);
    await session.step(x, stream);
    const snap = await session.snapshot(stream);
    paintColumn(rasters[0], t, x);
    rasters.slice(1).forEach((raster) => paintColumn(raster, t, snap.states[raster.state]));
    counts = Array.from(await session.spikeCounts(stream));
    const [leader] = await session.predict(stream);
    const [done] = await session.decided(T - t - 1, stream);
    if (done && decidedAt === null) decidedAt = t + 1;
    paintBars(counts, leader, T);
    $('prediction').textContent = leader;
    $('prediction').dataset.class = leader;
    $('decided').textContent = decidedAt ? `final after step ${decidedAt} of ${T}` : `step ${t + 1} of ${T}: not final yet`;
    if (delay) await new Promise((resolve) => { setTimeout(resolve, delay); });
  }
  document.body.dataset.counts = JSON.stringify(counts);
  setState('done');
}

$('run').addEventListener('click', () => stream_().catch(fail));
$('model').addEventListener('change', () => load($('model').value).catch(fail));
setupPad();
setValues(values);
Promise.all([setupThumbs(), load($('model').value)]).catch(fail);
