/**
 * Rate encoding: static values in [0, 1] become Bernoulli spike trains, as the model's
 * training encoded them (`info.encoding`, kind "rate"). For every time step t and feature f:
 *
 *     spike[t, f] ~ Bernoulli(p = value[f] * maxSpikes / timesteps)
 *
 * The draws come from a seeded 32-bit generator (mulberry32): the same seed gives the same
 * spikes on every platform, but not the spikes of Python's `Encoding.encode` (numpy's PCG64
 * stream is not reproduced here); the statistics are the same.
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
