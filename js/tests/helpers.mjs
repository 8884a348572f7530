// Shared by the Node tests: paths of the fixtures and shipped models, and a small session.
import { readFile } from 'node:fs/promises';

import { StreamingSession } from 'snudeploy-runtime';

export const ROOT = new URL('../../', import.meta.url);
export const MODELS = new URL('fixtures/models/', import.meta.url);

/** A fixture model's URL (tests/fixtures/models/NAME). */
export const small = (name = 'small.onnx') => new URL(name, MODELS);

/** A shipped model's URL (models/NAME). */
export const shipped = (name) => new URL(`models/${name}`, ROOT);

export const bytes = async (url) => new Uint8Array(await readFile(url));

export const session = (name = 'small.onnx', options = { threads: 1 }) => StreamingSession.create(small(name), options);

/** A seeded uniform generator in [0, 1) (tests only need reproducible inputs). */
export function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** `rows` × `features` random spikes (probability p). */
export function spikes(next, rows, features, p = 0.4) {
  return Uint8Array.from({ length: rows * features }, () => (next() < p ? 1 : 0));
}
