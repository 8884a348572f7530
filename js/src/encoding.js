/**
 * Encoders: how raw values become a model's input, as the metadata's `encoding` describes it
 * (Python's `snudeploy.encoding`, whose module docstring defines each kind).
 *
 * Deterministic kinds, which `StreamingSession.feed` runs one step at a time from each stream's
 * own encoder state (zero when a stream opens or resets):
 *
 * - latency (static values in [0, 1], one image fed every step): a value x > 0 fires once, at
 *   step min(floor((1 - x) * T), T - 1) computed in float64 (JS numbers); state `t`, the steps seen;
 * - delta (sequences): per channel z = (x - mean) / scale, then an ON spike when z - r >= threshold,
 *   an OFF spike when r - z >= threshold, r the reference (the stream's first z; set to z by every
 *   spike); input: the ON spikes of every channel, then the OFF spikes; state `reference`, `started`;
 * - direct (sequences): the normalised values z themselves;
 * - spikes (sequences): 0/1 values passed as they are.
 *
 * Arithmetic: numpy does each operation in float32 (`z` is one float32 subtraction, then one float32
 * division; the delta comparisons are on float32 differences). JavaScript computes in float64, which
 * rounds differently, so every float32 operation is one float64 operation rounded with Math.fround:
 * for +, - and / of float32 values that gives exactly the float32 result (float64 has more than twice
 * float32's precision), so the encoded input is Python's bit for bit.
 *
 * Rate encoding: static values in [0, 1] become Bernoulli spike trains, as the model's
 * training encoded them (`info.encoding`, kind "rate"). For every time step t and feature f:
 *
 *     spike[t, f] ~ Bernoulli(p = value[f] * maxSpikes / timesteps)
 *
 * The draws come from a seeded 32-bit generator (mulberry32): the same seed gives the same
 * spikes on every platform, but not the spikes of Python's `Encoding.encode` (numpy's PCG64
 * stream is not reproduced here); the statistics are the same. It draws random numbers, so
 * feed() does not run it (as in Python): `step` its spikes.
 */

import { ConfigurationError, InputValueError } from './errors.js';

export class RateEncoder {
  /**
   * @param {{kind?: string, timesteps: number, maxSpikes: number}} encoding a model's `info.encoding`.
   * @param {number} seed an integer; successive `encode` calls continue the same random stream.
   */
  constructor(encoding, seed = 0) {
    if (!encoding || (encoding.kind ?? 'rate') !== 'rate') {
      throw new ConfigurationError(`RateEncoder needs a rate encoding, got ${JSON.stringify(encoding?.kind ?? encoding)}.`);
    }
    const { timesteps, maxSpikes } = encoding;
    if (!Number.isSafeInteger(timesteps) || timesteps < 1) throw new ConfigurationError(`\`timesteps\` must be a positive integer, got ${timesteps}.`);
    if (typeof maxSpikes !== 'number' || !(maxSpikes >= 0 && maxSpikes <= timesteps)) {
      throw new ConfigurationError(`\`maxSpikes\` must be a number from 0 to ${timesteps}, got ${maxSpikes}.`);
    }
    if (!Number.isSafeInteger(seed)) throw new ConfigurationError(`\`seed\` must be an integer, got ${seed}.`);
    this.timesteps = timesteps;
    this.maxSpikes = maxSpikes;
    this._state = seed >>> 0;
  }

  /**
   * One sample's spikes.
   *
   * @param {ArrayLike<number>} values F values in [0, 1] (an image, flattened).
   * @returns {Uint8Array} `[timesteps × F]`: step t's input is `subarray(t * F, (t + 1) * F)`.
   */
  encode(values) {
    const features = values.length;
    const scale = this.maxSpikes / this.timesteps;
    const p = new Float32Array(features);
    for (let f = 0; f < features; f += 1) {
      const v = values[f];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        throw new InputValueError('Rate encoding needs finite values in [0, 1]; scale the data first.');
      }
      p[f] = v * scale;
    }
    const spikes = new Uint8Array(this.timesteps * features);
    for (let t = 0; t < this.timesteps; t += 1) {
      for (let f = 0; f < features; f += 1) spikes[t * features + f] = this._next() < p[f] ? 1 : 0;
    }
    return spikes;
  }

  /** mulberry32: a uniform draw in [0, 1). */
  _next() {
    this._state = (this._state + 0x6d2b79f5) >>> 0;
    let z = this._state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }
}

/**
 * A deterministic encoder (module docstring) of a model's parsed `info.encoding`: each holds `kind`,
 * `rawFeatures` (raw values per step it was fitted for, or null: the model's features), `state` (its
 * per-stream state, name -> size) and `step(raw, state, rows)`, which encodes one raw step of `rows`
 * streams (`raw`: Float32Array [rows × F]; `state`: name -> Float32Array [rows × size]) into new arrays,
 * `{input: Float32Array [rows × C], state}`, changing neither argument.
 */
export const ENCODERS = Object.freeze({
  latency: (encoding) => new Latency(encoding),
  delta: (encoding) => new Delta(encoding),
  direct: (encoding) => new Direct(encoding),
  spikes: () => new Spikes(),
});

/** The encoder feed() runs for `encoding`, or null for none, a rate encoding (random draws) and kinds it does not know. */
export function stepEncoder(encoding) {
  const make = encoding ? ENCODERS[encoding.kind] : undefined;
  return make ? make(encoding) : null;
}

class Latency {
  constructor({ timesteps }) {
    this.kind = 'latency';
    this.timesteps = timesteps;
    this.rawFeatures = null;
    this.state = { t: 1 };
  }

  step(raw, state, rows) {
    if (!raw.every((v) => v >= 0 && v <= 1)) {
      throw new InputValueError('Latency encoding needs finite values in [0, 1]; scale the data first.');
    }
    const features = raw.length / rows;
    const last = this.timesteps - 1;
    const seen = state.t;
    const input = new Float32Array(raw.length);
    for (let r = 0; r < rows; r += 1) {
      for (let f = r * features; f < (r + 1) * features; f += 1) {
        const x = raw[f];
        input[f] = x > 0 && Math.min(Math.floor((1 - x) * this.timesteps), last) === seen[r] ? 1 : 0;
      }
    }
    return { input, state: { t: seen.map((t) => Math.fround(t + 1)) } };
  }
}

class Direct {
  constructor({ mean, scale }) {
    this.kind = 'direct';
    this.mean = Float32Array.from(mean); // numpy's float32 parameters: each rounded once from the stored number
    this.scale = Float32Array.from(scale);
    this.rawFeatures = mean.length || null;
    this.state = {};
  }

  /** z = (x - mean) / scale per channel, each operation in float32. */
  normalise(raw) {
    const channels = this.mean.length;
    if (!channels) {
      throw new ConfigurationError(`This ${this.kind} encoding is not fitted (no mean and scale); fit it on the training split first.`);
    }
    const z = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i += 1) {
      const c = i % channels;
      z[i] = Math.fround(raw[i] - this.mean[c]) / this.scale[c]; // storing rounds the quotient to float32
    }
    return z;
  }

  step(raw) {
    return { input: this.normalise(raw), state: {} };
  }
}

class Delta extends Direct {
  constructor(encoding) {
    super(encoding);
    this.kind = 'delta';
    this.threshold = Float32Array.from(encoding.threshold);
    this.state = { reference: encoding.mean.length, started: 1 };
  }

  step(raw, state, rows) {
    const z = this.normalise(raw);
    const channels = this.mean.length;
    const input = new Float32Array(2 * z.length);
    const reference = new Float32Array(z.length);
    for (let r = 0; r < rows; r += 1) {
      const started = state.started[r] > 0;
      for (let c = 0; c < channels; c += 1) {
        const i = r * channels + c;
        const [now, before] = [z[i], state.reference[i]];
        const on = started && Math.fround(now - before) >= this.threshold[c];
        const off = started && Math.fround(before - now) >= this.threshold[c];
        input[2 * r * channels + c] = on ? 1 : 0;
        input[(2 * r + 1) * channels + c] = off ? 1 : 0;
        reference[i] = on || off || !started ? now : before;
      }
    }
    return { input, state: { reference, started: new Float32Array(rows).fill(1) } };
  }
}

class Spikes {
  constructor() {
    this.kind = 'spikes';
    this.rawFeatures = null;
    this.state = {};
  }

  step(raw) {
    if (!raw.every((v) => v === 0 || v === 1)) throw new InputValueError("This model's encoding is `spikes`: feed 0 or 1 values only.");
    return { input: Float32Array.from(raw), state: {} };
  }
}
