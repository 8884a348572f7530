// Step latency at 1 stream: the JS runtime in Node (onnxruntime-node), optionally in headless
// Chromium (onnxruntime-web, wasm: --browser), and Python's StreamingSession.step, in one run.
//
// Each candidate runs in interleaved bursts (one untimed step, then STEPS timed steps); a burst's
// time per step is its mean, and the table gives the median over ROUNDS bursts with the spread
// of the middle half. Browsers coarsen performance.now() (100 µs without cross-origin isolation),
// so whole bursts are timed everywhere, never single steps.
//
// Usage: npm run bench [-- --browser] [--rounds 15] [--steps 200]   (PYTHON=path: the interpreter with snudeploy)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { StreamingSession } from 'snudeploy-runtime';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODELS = ['digits-snu/step.onnx', 'digits-snu/step.int8.onnx', 'fashion-mnist-snu/step.onnx', 'fashion-mnist-snu/step.int8.onnx'];
const { values: args } = parseArgs({ options: {
  browser: { type: 'boolean', default: false }, rounds: { type: 'string', default: '15' }, steps: { type: 'string', default: '200' },
} });
const rounds = Number(args.rounds);
const steps = Number(args.steps);

/** Bursts of every candidate, interleaved: {model: [µs per step of each burst]}. */
async function bursts(sessions) {
  const out = Object.fromEntries(Object.keys(sessions).map((m) => [m, []]));
  for (let r = 0; r < rounds; r += 1) {
    for (const [model, { session, id, x }] of Object.entries(sessions)) {
      await session.step(x, id);
      const start = performance.now();
      for (let i = 0; i < steps; i += 1) await session.step(x, id);
      out[model].push(((performance.now() - start) / steps) * 1000);
    }
  }
  return out;
}

/** One stream per model with a fixed input of spikes (probability 0.2; seeded). */
async function open(Session, load) {
  const sessions = {};
  let state = 1;
  for (const model of MODELS) {
    const session = await Session.create(await load(model), { threads: 1 });
    const [id] = await session.open(1);
    const x = Uint8Array.from({ length: session.features }, () => { state = (state * 48271) % 2147483647; return state % 5 === 0 ? 1 : 0; });
    sessions[model] = { session, id, x };
  }
  return sessions;
}

async function inNode() {
  return bursts(await open(StreamingSession, (model) => join(ROOT, 'models', model)));
}

function inPython() {
  const python = process.env.PYTHON ?? [join(ROOT, '.venv/bin/python'), 'python3'].find((p) => p === 'python3' || existsSync(p));
  const script = fileURLToPath(new URL('python_step.py', import.meta.url));
  const output = execFileSync(python, [script, String(rounds), String(steps), ...MODELS.map((m) => join(ROOT, 'models', m))],
    { cwd: ROOT, encoding: 'utf8' });
  return Object.fromEntries(Object.entries(JSON.parse(output)).map(([path, times]) => [MODELS.find((m) => path.endsWith(m)), times]));
}

async function inChromium() {
  const { chromium } = await import('playwright-core');
  const { serve } = await import('../demo/serve.mjs');
  const { server, url } = await serve({ port: 0 });
  const context = await chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), 'snudeploy-chromium-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(`${url}/js/demo/?delay=0`);
    const source = `(${bursts.toString()})`;
    const openSource = `(${open.toString()})`;
    return await page.evaluate(async ({ source, openSource, models, rounds, steps }) => {
      const { StreamingSession: Session } = await import('/js/src/browser.js');
      Object.assign(globalThis, { MODELS: models, rounds, steps });
      const sessions = await eval(openSource)(Session, (model) => `/models/${model}`); // eslint-disable-line no-eval
      return eval(source)(sessions); // eslint-disable-line no-eval
    }, { source, openSource, models: MODELS, rounds, steps });
  } finally {
    await context.close();
    server.close();
  }
}

function summary(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), q1: at(0.25), q3: at(0.75) };
}

function machine() {
  const flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/);
  const shown = ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'amx_int8'].filter((f) => flags.includes(f));
  const version = (pkg) => JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')).version;
  return `${cpus()[0].model} (${cpus().length} cores; ${shown.join(', ')}); Node ${process.versions.node}, ` +
    `onnxruntime-node ${version('onnxruntime-node')}, onnxruntime-web ${version('onnxruntime-web')}`;
}

const results = { 'JS, Node (onnxruntime-node)': await inNode(), 'Python (StreamingSession.step)': inPython() };
if (args.browser) results['JS, Chromium (onnxruntime-web, wasm)'] = await inChromium();
console.log(machine());
console.log(`one step at 1 stream, 1 thread: median µs per step over ${rounds} interleaved bursts of ${steps} steps (middle half)\n`);
const columns = Object.keys(results);
console.log(`| model | ${columns.join(' | ')} |`);
console.log(`|---|${columns.map(() => '---:').join('|')}|`);
for (const model of MODELS) {
  const cells = columns.map((c) => { const s = summary(results[c][model]); return `${s.median.toFixed(1)} (${s.q1.toFixed(1)}–${s.q3.toFixed(1)})`; });
  console.log(`| ${model} | ${cells.join(' | ')} |`);
}
