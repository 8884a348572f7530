/**
 * The streaming session: one ONNX Runtime session serving many independent SNU streams.
 *
 * Every stream carries, per layer, the states (y, s) of the SNU equations, starting at zero:
 *
 *     s_t = g(W x_t [+ H y_{t-1}] + decay * s_{t-1} * (1 - y_{t-1}))
 *     y_t = h(s_t - b)
 *
 * A stream's outputs never depend on which other streams share its batch: the batch fed to
 * ONNX Runtime holds only the streams named, their states gathered from (and scattered back
 * to) per-stream slots. When the same streams are stepped again, their states stay in the
 * arrays ONNX Runtime returned, fed straight back, until another call needs them.
 *
 * Calls are serialized per session: every method that reads or changes streams returns a
 * promise and runs after the calls made before it have finished, one at a time, so concurrent
 * awaits cannot interleave state updates (Python's session lock, in promise form). Every
 * argument is checked before any state changes: a call that throws changed no stream.
 *
 * This module is the same in Node and in the browser; ONNX Runtime comes from the entry module
 * (node.js: onnxruntime-node, browser.js: onnxruntime-web), which also reads models by path or URL.
 */

import { stepEncoder } from './encoding.js';
import { ConfigurationError, InferenceError, InputValueError, ModelFileError, UnknownStreamError } from './errors.js';
import { toInput } from './inputs.js';
import { checkSignature, fixedTimesteps, loadModel } from './model.js';
import { StreamTable } from './streams.js';

const OPTIMIZATION_LEVELS = { disable: 'disabled', basic: 'basic', extended: 'extended', all: 'all' };
const OPTIONS = ['threads', 'graphOptimizationLevel', 'checkDigest', 'trustOperators', 'executionProviders'];

export class StreamingSession {
  /**
   * The ONNX Runtime module and model reader of this entry point (set by node.js and browser.js):
   * `{ort, name, providers, read(model) -> {bytes, source}, threads(n) -> session options}`.
   */
  static runtime = null;

  /**
   * Load and check a snudeploy model, then start its ONNX Runtime session.
   *
   * @param {string|URL|Uint8Array|ArrayBuffer|Blob} model a path (Node), a URL, or the model's bytes.
   * @param {object} [options] see index.d.ts.
   * @throws {ModelFileError} missing, unreadable, foreign, untrusted, newer-schema, corrupted (CorruptModelError)
   *   or not matching its metadata.
   * @throws {ConfigurationError} an invalid option.
   */
  static async create(model, options = {}) {
    const settings = checkOptions(options);
    const runtime = this.runtime;
    if (!runtime) throw new ConfigurationError("Import StreamingSession from the package ('snudeploy-runtime'), not from src/session.js.");
    const { bytes, source } = await runtime.read(model);
    const loaded = await loadModel(bytes, { source, checkDigest: settings.checkDigest, trustOperators: settings.trustOperators });
    const level = loaded.info.quantization.ort_disabled_optimizers?.length ? 'disabled' : settings.graphOptimizationLevel;
    let session;
    try {
      session = await runtime.ort.InferenceSession.create(bytes, {
        executionProviders: settings.executionProviders ?? runtime.providers,
        graphOptimizationLevel: level,
        logSeverityLevel: 3,
        ...(settings.threads ? runtime.threads(settings.threads) : {}),
      });
    } catch (e) {
      throw new ModelFileError(`${source}: ONNX Runtime cannot load it (${firstLine(e)}).`);
    }
    try {
      checkSignature(session, loaded.info, source);
    } catch (e) {
      await session.release();
      throw e;
    }
    return new this(runtime, session, loaded, fixedTimesteps(session, loaded.info));
  }

  /** Use {@link StreamingSession.create}. */
  constructor(runtime, session, loaded, fixed) {
    this._ort = runtime.ort;
    this._runtime = runtime.name;
    this._session = session;
    this._source = loaded.source;
    this._info = loaded.info;
    this._digest = loaded.digest;
    this._fixed = fixed;
    this._states = loaded.info.states;
    this._fetch = [loaded.info.outputs.spikes, ...this._states.map((s) => s.output)];
    this._xShape = loaded.info.graph === 'sequence' ? [1, ...loaded.info.input.shape] : loaded.info.input.shape;
    this._encoder = stepEncoder(loaded.info.encoding); // feed()'s, null when the model's encoding has none
    this._table = new StreamTable(this._states, loaded.info.classes, 8, this._encoder?.state);
    this._held = null; // {ids, slots, states, tensors}: the last stepped streams, whose states live in ONNX Runtime's outputs
    this._tail = Promise.resolve();
    this._released = false;
  }

  // -- the model ----------------------------------------------------------------------------

  /** The model's parsed snudeploy metadata (frozen; schema 2 read as schema 3). */
  get info() { return this._info; }

  /** F, the input values per stream and step. */
  get features() { return this._info.input.features; }

  /** The per-step input shape of one stream (`[F]`, or e.g. `[28, 28, 1]`). */
  get inputShape() { return this._info.input.shape; }

  /** C, the output classes. */
  get classes() { return this._info.classes; }

  /** Which ONNX Runtime runs the model (`onnxruntime-node` or `onnxruntime-web`). */
  get runtime() { return this._runtime; }

  /** The model file's schema-3 digest (lowercase hex SHA-256), or null for files without one. */
  get digest() { return this._digest; }

  // -- streams ------------------------------------------------------------------------------

  /** Ids of the open streams, in open order. */
  streams() {
    return this._serial(() => this._table.ids);
  }

  /** Open `n` streams at zero state; resolve to their new ids (never reused in this session). */
  open(n = 1) {
    return this._serial(() => this._table.open(n));
  }

  /** Close `streams` (an id, ids, or null for all) and free their slots. */
  close(streams) {
    return this._serial(() => {
      const { ids, slots } = this._table.resolve(streams);
      if (this._holds(slots)) this._unhold();
      this._table.close(ids);
    });
  }

  /** Zero the state and readout counters of `streams` (null: all open streams). */
  reset(streams = null) {
    return this._serial(() => {
      const { slots } = this._table.resolve(streams);
      if (this._holds(slots)) this._unhold();
      this._table.zero(slots);
    });
  }

  // -- inference ----------------------------------------------------------------------------

  /**
   * Advance `streams` by one time step; the others are untouched.
   *
   * @param x one step for S streams, `[S, ...inputShape]`: flat (S × F values) or nested arrays.
   *   It is read when the step runs: keep it unchanged until the promise settles.
   * @param streams stream ids (or one id); null steps every open stream in open order.
   * @returns {Promise<Float32Array>} that step's outputs `[S × C]`, row i for the i-th stream named.
   */
  step(x, streams = null) {
    return this._serial(() => this._step(x, streams));
  }

  _step(x, streams) {
    this._checkSteppable();
    const { ids, slots } = this._table.resolve(streams);
    if (!ids.length) throw new UnknownStreamError('No streams to step: open some with open() first.');
    return this._advance(toInput(x, ids.length, this._info.input.shape, this._info.input.binary), ids, slots);
  }

  /**
   * Encode one raw time step of `streams` with the model's encoder, then step them.
   *
   * Each stream keeps its own encoder state (a delta encoder's reference, a latency encoder's step
   * count): zero after open() and reset(), carried by snapshot() and restore(). The encoder is the one
   * in the model's metadata (encoding.js, Python's snudeploy.encoding, bit for bit); a model whose
   * encoding draws random numbers (rate) is stepped with its encoded spikes instead. A rejected call
   * (the checks of step(), and raw values that are not finite numbers of the right shape) changes no
   * stream: the encoder's new state is written back only after the step succeeded.
   *
   * @param values one raw step `[S, rawFeatures]` (flat or nested), row i for the i-th stream named;
   *   rawFeatures is the number of channels a delta or direct encoding was fitted on, else `features`.
   * @param streams stream ids (or one id); null feeds every open stream in open order.
   * @returns {Promise<Float32Array>} that step's outputs `[S × C]`, as step() returns them.
   */
  feed(values, streams = null) {
    return this._serial(() => this._feed(values, streams));
  }

  async _feed(values, streams) {
    const encoder = this._encoder;
    if (encoder === null) {
      const kind = this._info.encoding?.kind;
      const what = kind === undefined ? 'no encoding in its metadata'
        : kind === 'rate' ? 'a rate encoding, which draws random numbers' : `a ${kind} encoding, which this runtime does not know`;
      throw new ConfigurationError(`${this._source} has ${what}; feed() encodes deterministic encodings only: step() the encoded input instead.`);
    }
    this._checkSteppable();
    const { ids, slots } = this._table.resolve(streams);
    if (!ids.length) throw new UnknownStreamError('No streams to feed: open some with open() first.');
    const raw = toInput(values, ids.length, [encoder.rawFeatures ?? this.features], false);
    const { input, state } = encoder.step(raw, this._table.gatherEncoder(slots), ids.length);
    if (input.length !== ids.length * this.features) {
      throw new ModelFileError(`${this._source} does not match its snudeploy metadata: its ${encoder.kind} encoding sends ` +
                               `${input.length / ids.length} values per step, its input takes ${this.features}.`);
    }
    const spikes = await this._advance(toInput(input, ids.length, this._info.input.shape, this._info.input.binary), ids, slots);
    this._table.scatterEncoder(slots, state); // only once the step has succeeded
    return spikes;
  }

  /** Step streams `ids` (table slots `slots`) with the checked input `values` `[S × F]`; change nothing on failure. */
  async _advance(values, ids, slots) {
    const Tensor = this._ort.Tensor;
    const feeds = { [this._info.input.name]: new Tensor('float32', values, [ids.length, ...this._xShape]) };
    if (this._held !== null && sameIds(this._held.ids, ids)) {
      for (const s of this._states) feeds[s.input] = this._held.tensors[s.output]; // last step's outputs, as they came
    } else {
      this._unhold();
      const states = this._table.gather(slots);
      for (const s of this._states) feeds[s.input] = new Tensor('float32', states.get(s.input), [ids.length, ...s.shape]);
    }
    let out;
    try {
      out = await this._session.run(feeds, this._fetch);
    } catch (e) {
      throw new InferenceError(`${this._source}: ONNX Runtime failed (${firstLine(e)}); no state changed.`);
    }
    const next = new Map(this._states.map((s) => [s.input, out[s.output].data]));
    for (const array of next.values()) {
      let sum = 0;
      for (let i = 0; i < array.length; i += 1) sum += array[i] * array[i];
      if (!Number.isFinite(sum)) {
        throw new InputValueError("This step would make a stream's state NaN or Inf (inputs or weights too large); " +
                                  'it was not applied and the state is unchanged.');
      }
    }
    const spikes = out[this._info.outputs.spikes].data;
    this._held = { ids, slots, states: next, tensors: out };
    this._table.record(slots, spikes);
    return spikes;
  }

  // -- state transfer -----------------------------------------------------------------------

  /**
   * A copy of one stream's state and counters, to restore here or in another session of the same
   * network: `{states: {name: Float32Array}, steps, counts: Float64Array, last: Float32Array, peak: Float32Array,
   * encoder: {name: Float32Array}}` (structured-cloneable: postMessage, IndexedDB).
   */
  snapshot(stream) {
    return this._serial(() => {
      const { slots } = this._table.resolve([stream]);
      if (this._holds(slots)) this._table.scatter(this._held.slots, this._held.states);
      return this._table.snapshot(slots[0]);
    });
  }

  /** Give open stream `stream` the state and counters of `snap` (same network). */
  restore(stream, snap) {
    return this._serial(() => {
      const { slots } = this._table.resolve([stream]);
      this._table.check(snap, this._info.readout.reduce === 'count');
      if (this._holds(slots)) this._unhold();
      this._table.restore(slots[0], snap);
    });
  }

  // -- readouts -----------------------------------------------------------------------------

  /** The last step's outputs `[S × C]` (zeros before any step). */
  lastSpikes(streams = null) {
    return this._serial(() => this._table.rows(this._table.last, this._table.resolve(streams).slots));
  }

  /** Outputs summed since open/reset `[S × C]` (exact counts for spiking outputs). */
  spikeCounts(streams = null) {
    return this._serial(() => this._table.rows(this._table.counts, this._table.resolve(streams).slots));
  }

  /** Time steps each stream has seen since open/reset `[S]`. */
  stepsSeen(streams = null) {
    return this._serial(() => this._table.resolve(streams).slots.map((slot) => this._table.steps[slot]));
  }

  /**
   * The readout's scores so far `[S × C]`: mean output rates, counts / steps (zeros before any step);
   * for a membrane readout the last output value (zeros before any step) or its maximum so far
   * (reduce "max"; -Infinity before any step). Their argmax is predict()'s.
   */
  rates(streams = null) {
    return this._serial(() => {
      const { slots } = this._table.resolve(streams);
      const reduce = this._info.readout.reduce;
      if (reduce !== 'count') return this._table.rows(reduce === 'last' ? this._table.last : this._table.peak, slots);
      const counts = this._table.rows(this._table.counts, slots);
      const rates = new Float32Array(counts.length);
      const c = this.classes;
      slots.forEach((slot, i) => {
        const steps = Math.max(this._table.steps[slot], 1);
        for (let k = 0; k < c; k += 1) rates[i * c + k] = counts[i * c + k] / steps;
      });
      return rates;
    });
  }

  /**
   * Anytime prediction per stream `[S]`, ties to the lower class: the argmax of its output counts
   * (readouts mean_rate and spike_count), or for a membrane readout of its last output value
   * (reduce "last") or of each output's running maximum (reduce "max").
   */
  predict(streams = null) {
    return this._serial(() => {
      const { slots } = this._table.resolve(streams);
      const counter = { count: this._table.counts, last: this._table.last, max: this._table.peak }[this._info.readout.reduce];
      const rows = this._table.rows(counter, slots);
      return slots.map((_, i) => argmax(rows, i, this.classes));
    });
  }

  /**
   * Whether each stream's prediction is final with `remaining` steps left `[S]`.
   *
   * An output unit adds at most 1 to its count per step, so once the leading class is more than
   * `remaining` spikes ahead of every other class no later input can change the prediction; an
   * application can stop feeding such a stream. A membrane value can change by any amount in one
   * step: a membrane readout is decided only when no step remains (or there is one class).
   */
  decided(remaining, streams = null) {
    if (!Number.isSafeInteger(remaining) || remaining < 0) {
      return Promise.reject(new ConfigurationError(`\`remaining\` must be an integer >= 0, got ${String(remaining)}.`));
    }
    return this._serial(() => {
      const { slots } = this._table.resolve(streams);
      const counts = this._table.rows(this._table.counts, slots);
      const c = this.classes;
      return slots.map((_, i) => {
        if (c === 1) return true;
        if (this._info.readout.reduce !== 'count') return remaining === 0;
        let first = -Infinity;
        let second = -Infinity;
        for (let k = 0; k < c; k += 1) {
          const v = counts[i * c + k];
          if (v > first) [first, second] = [v, first];
          else if (v > second) second = v;
        }
        return first - second > remaining;
      });
    });
  }

  /** Free ONNX Runtime's session (after the calls already made); later calls throw ConfigurationError. */
  release() {
    return this._serial(async () => {
      this._released = true;
      await this._session.release();
    });
  }

  // -- internals ----------------------------------------------------------------------------

  _serial(work) {
    const run = this._tail.then(() => {
      if (this._released) throw new ConfigurationError(`This session of ${this._source} was released.`);
      return work();
    });
    this._tail = run.then(() => {}, () => {});
    return run;
  }

  _checkSteppable() {
    if (this._fixed !== null && this._fixed !== 1) {
      throw new ConfigurationError(`${this._source} (${this._info.format} format) has a fixed sequence length ` +
                                   `T=${this._fixed}: it cannot step one time step; export a step, loop or customop model to stream.`);
    }
  }

  /** Whether the held batch holds any of `slots`. */
  _holds(slots) {
    return this._held !== null && slots.some((slot) => this._held.slots.includes(slot));
  }

  /** Move the held streams' states back into the table. */
  _unhold() {
    if (this._held !== null) {
      this._table.scatter(this._held.slots, this._held.states);
      this._held = null;
    }
  }
}

function checkOptions(options) {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError(`Expected an options object, got ${String(options)}.`);
  const unknown = Object.keys(options).filter((k) => !OPTIONS.includes(k));
  if (unknown.length) throw new ConfigurationError(`Unknown option(s) ${unknown.join(', ')}; expected ${OPTIONS.join(', ')}.`);
  const { threads, graphOptimizationLevel = 'all', checkDigest = true, trustOperators = false } = options;
  if (threads !== undefined && (!Number.isSafeInteger(threads) || threads < 1 || threads > 256)) {
    throw new ConfigurationError(`\`threads\` must be an integer from 1 to 256, got ${String(threads)}.`);
  }
  if (!(graphOptimizationLevel in OPTIMIZATION_LEVELS)) {
    throw new ConfigurationError(`\`graphOptimizationLevel\` must be one of ${Object.keys(OPTIMIZATION_LEVELS).join(', ')}, ` +
                                 `got ${String(graphOptimizationLevel)}.`);
  }
  for (const [what, value] of [['checkDigest', checkDigest], ['trustOperators', trustOperators]]) {
    if (typeof value !== 'boolean') throw new ConfigurationError(`\`${what}\` must be true or false, got ${String(value)}.`);
  }
  return { ...options, graphOptimizationLevel: OPTIMIZATION_LEVELS[graphOptimizationLevel], checkDigest, trustOperators };
}

function sameIds(a, b) {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function argmax(rows, i, c) {
  let best = 0;
  for (let k = 1; k < c; k += 1) if (rows[i * c + k] > rows[i * c + best]) best = k;
  return best;
}

function firstLine(error) {
  return String(error?.message ?? error).trim().split('\n')[0] || 'no message';
}

