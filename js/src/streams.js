/**
 * Per-stream state and readout counters, kept in slots of preallocated typed-array pools.
 *
 * Each open stream owns one slot of every state pool (`capacity` × the state's per-stream size)
 * and of the counters; a batch is gathered into one array per state and scattered back the same
 * way. Stream ids are never reused within a table; slots of closed streams are. The pools hold
 * the network's states and the encoder's (`StreamingSession.feed`: a delta encoder's reference, a
 * latency encoder's step), so both travel in a snapshot. Python's
 * `snudeploy.runtime.streams.StreamTable` is the same design with numpy pools.
 */

import { ConfigurationError, UnknownStreamError } from './errors.js';
import { LIMITS } from './metadata.js';

export class StreamTable {
  /**
   * @param {Array<{input: string, size: number}>} states the model's states, in layer order.
   * @param {number} classes C, the width of the output.
   * @param {Object<string, number>} encoder the encoder's per-stream state, name -> size.
   */
  constructor(states, classes, capacity = 8, encoder = {}) {
    this.sizes = new Map(states.map((s) => [s.input, s.size]));
    this.classes = classes;
    this.pools = new Map(states.map((s) => [s.input, new Float32Array(capacity * s.size)]));
    this.encoderSizes = new Map(Object.entries(encoder));
    this.encoderPools = new Map(Object.entries(encoder).map(([name, size]) => [name, new Float32Array(capacity * size)]));
    this.counts = new Float64Array(capacity * classes);
    this.last = new Float32Array(capacity * classes);
    this.peak = new Float32Array(capacity * classes); // running maximum of each output (-Infinity before any step)
    this.steps = new Float64Array(capacity);
    this.slotOf = new Map(); // insertion order = open order
    this.free = Array.from({ length: capacity }, (_, i) => capacity - 1 - i);
    this.nextId = 0;
  }

  get ids() {
    return [...this.slotOf.keys()];
  }

  open(n) {
    if (!Number.isSafeInteger(n) || n < 1 || n > LIMITS.streams) {
      throw new ConfigurationError(`\`n\` must be an integer from 1 to ${LIMITS.streams}, got ${String(n)}.`);
    }
    if (this.slotOf.size + n > LIMITS.streams) {
      throw new ConfigurationError(`Opening ${n} stream(s) would exceed the limit of ${LIMITS.streams} open streams ` +
                                   `per session (${this.slotOf.size} are open); close some first.`);
    }
    while (this.free.length < n) this.grow();
    const ids = [];
    for (let i = 0; i < n; i += 1) {
      const slot = this.free.pop();
      this.slotOf.set(this.nextId, slot);
      ids.push(this.nextId);
      this.zero([slot]);
      this.nextId += 1;
    }
    return ids;
  }

  close(ids) {
    for (const id of ids) {
      this.free.push(this.slotOf.get(id));
      this.slotOf.delete(id);
    }
  }

  /**
   * Check `streams` (null/undefined: all open; one id; or an array of ids) and return `{ids, slots}`; change nothing.
   *
   * @throws {UnknownStreamError} an id that is not an integer, was never opened, is closed, or repeats.
   */
  resolve(streams) {
    let ids;
    if (streams == null) {
      ids = this.ids;
    } else {
      const items = typeof streams === 'number' ? [streams] : streams;
      if (typeof items !== 'object' || typeof items[Symbol.iterator] !== 'function' || typeof items === 'string') {
        throw new UnknownStreamError(`Expected stream ids (integers from open()) or null, got ${describe(streams)}.`);
      }
      ids = [];
      for (const item of items) {
        if (!Number.isSafeInteger(item)) throw new UnknownStreamError(`Stream ids are the integers open() returned, got ${describe(item)}.`);
        if (!this.slotOf.has(item)) {
          const state = item >= 0 && item < this.nextId ? 'was closed' : 'was never opened';
          throw new UnknownStreamError(`Stream ${item} ${state}; open streams: ${brief(this.ids)}.`);
        }
        ids.push(item);
      }
      if (new Set(ids).size !== ids.length) {
        const repeated = [...new Set(ids.filter((s, i) => ids.indexOf(s) !== i))].sort((a, b) => a - b);
        throw new UnknownStreamError(`Each stream may appear once per call; repeated: [${repeated.join(', ')}].`);
      }
    }
    return { ids, slots: ids.map((id) => this.slotOf.get(id)) };
  }

  /** The states of `slots`, one Float32Array `[slots.length × size]` per state input name. */
  gather(slots) {
    return new Map(gather(this.pools, this.sizes, slots));
  }

  /** Write `states` (state input name -> `[slots.length × size]`) back into the slots. */
  scatter(slots, states) {
    scatter(this.pools, this.sizes, slots, (name) => states.get(name));
  }

  /** The encoder states of `slots`, `{name: Float32Array [slots.length × size]}`. */
  gatherEncoder(slots) {
    return Object.fromEntries(gather(this.encoderPools, this.encoderSizes, slots));
  }

  /** Write encoder `states` (`{name: [slots.length × size]}`) back into the slots. */
  scatterEncoder(slots, states) {
    scatter(this.encoderPools, this.encoderSizes, slots, (name) => states[name]);
  }

  /** Count one step's outputs `spikes [slots.length × C]`. */
  record(slots, spikes) {
    const c = this.classes;
    slots.forEach((slot, i) => {
      for (let k = 0; k < c; k += 1) this.counts[slot * c + k] += spikes[i * c + k];
      this.last.set(spikes.subarray(i * c, (i + 1) * c), slot * c);
      for (let k = 0; k < c; k += 1) this.peak[slot * c + k] = Math.max(this.peak[slot * c + k], spikes[i * c + k]);
      this.steps[slot] += 1;
    });
  }

  zero(slots) {
    for (const [pools, sizes] of [[this.pools, this.sizes], [this.encoderPools, this.encoderSizes]]) {
      for (const [name, pool] of pools) {
        const size = sizes.get(name);
        for (const slot of slots) pool.fill(0, slot * size, (slot + 1) * size);
      }
    }
    const c = this.classes;
    for (const slot of slots) {
      this.counts.fill(0, slot * c, (slot + 1) * c);
      this.last.fill(0, slot * c, (slot + 1) * c);
      this.peak.fill(-Infinity, slot * c, (slot + 1) * c);
      this.steps[slot] = 0;
    }
  }

  /** Rows of a counter (`counts`, `last` or `peak`) for `slots`, as one flat array `[slots.length × C]`. */
  rows(counter, slots) {
    const c = this.classes;
    const out = new counter.constructor(slots.length * c);
    slots.forEach((slot, i) => out.set(counter.subarray(slot * c, (slot + 1) * c), i * c));
    return out;
  }

  snapshot(slot) {
    const c = this.classes;
    return Object.freeze({
      states: Object.freeze(Object.fromEntries(gather(this.pools, this.sizes, [slot]))), steps: this.steps[slot],
      counts: this.counts.slice(slot * c, (slot + 1) * c), last: this.last.slice(slot * c, (slot + 1) * c),
      peak: this.peak.slice(slot * c, (slot + 1) * c),
      encoder: Object.freeze(Object.fromEntries(gather(this.encoderPools, this.encoderSizes, [slot]))),
    });
  }

  /**
   * Throw {@link ConfigurationError} unless `snap` fits this network; change nothing.
   *
   * @param {boolean} spikes whether the outputs are spikes (0/1 each step), so counts lie within [0, steps].
   */
  check(snap, spikes) {
    if (typeof snap !== 'object' || snap === null || typeof snap.states !== 'object' || snap.states === null) {
      throw new ConfigurationError('Expected a snapshot from snapshot() ({states, steps, counts, last, peak}).');
    }
    const have = Object.entries(snap.states).map(([name, v]) => `${name}: ${v?.length}`).sort();
    const want = [...this.sizes].map(([name, size]) => `${name}: ${size}`).sort();
    if (have.join() !== want.join()) {
      throw new ConfigurationError(`The snapshot does not fit this model: it holds states {${have.join(', ')}}, ` +
                                   `this model has {${want.join(', ')}}.`);
    }
    const encoder = snap.encoder ?? {}; // snapshots of models without encoder state may leave it out
    if (typeof encoder !== 'object' || encoder === null) {
      throw new ConfigurationError(`The snapshot's encoder state must be an object, got ${describe(encoder)}.`);
    }
    const haveEncoder = Object.entries(encoder).map(([name, v]) => `${name}: ${v?.length}`).sort();
    const wantEncoder = [...this.encoderSizes].map(([name, size]) => `${name}: ${size}`).sort();
    if (haveEncoder.join() !== wantEncoder.join()) {
      throw new ConfigurationError(`The snapshot does not fit this model's encoder: it holds encoder state ` +
                                   `{${haveEncoder.join(', ')}}, this model's encoder has {${wantEncoder.join(', ')}}.`);
    }
    for (const what of ['counts', 'last', 'peak']) {
      if (snap[what]?.length !== this.classes) {
        throw new ConfigurationError(`The snapshot's ${what} hold ${snap[what]?.length} values; this model has ` +
                                     `${this.classes} output classes.`);
      }
    }
    const arrays = { ...Object.fromEntries(Object.entries(snap.states).map(([n, v]) => [`state ${n}`, v])),
      counts: snap.counts, last: snap.last,
      ...Object.fromEntries(Object.entries(encoder).map(([n, v]) => [`encoder state ${n}`, v])) };
    for (const [what, values] of Object.entries(arrays)) {
      for (let i = 0; i < values.length; i += 1) {
        if (typeof values[i] !== 'number' || !Number.isFinite(values[i])) {
          throw new ConfigurationError(`The snapshot's ${what} must hold finite numbers, got ${describe(values[i])}.`);
        }
      }
    }
    if (Array.from(snap.peak).some((v) => typeof v !== 'number' || Number.isNaN(v) || v === Infinity)) {
      throw new ConfigurationError("The snapshot's peak must hold finite numbers (or -Infinity before any step).");
    }
    if (!Number.isSafeInteger(snap.steps) || snap.steps < 0) {
      throw new ConfigurationError(`The snapshot's step count must be a non-negative integer, got ${describe(snap.steps)}.`);
    }
    if (spikes && Array.from(snap.counts).some((n) => n < 0 || n > snap.steps)) {
      throw new ConfigurationError("The snapshot's spike counts must lie between 0 and its step count " +
                                   '(an output adds at most 1 per step).');
    }
  }

  restore(slot, snap) {
    for (const [name, pool] of this.pools) pool.set(snap.states[name], slot * this.sizes.get(name));
    for (const [name, pool] of this.encoderPools) pool.set(snap.encoder[name], slot * this.encoderSizes.get(name));
    const c = this.classes;
    this.steps[slot] = snap.steps;
    this.counts.set(snap.counts, slot * c);
    this.last.set(snap.last, slot * c);
    this.peak.set(snap.peak, slot * c);
  }

  grow() {
    const old = this.steps.length;
    const capacity = 2 * old;
    const extend = (array, width) => {
      const grown = new array.constructor(capacity * width);
      grown.set(array);
      return grown;
    };
    for (const [name, pool] of this.pools) this.pools.set(name, extend(pool, this.sizes.get(name)));
    for (const [name, pool] of this.encoderPools) this.encoderPools.set(name, extend(pool, this.encoderSizes.get(name)));
    this.counts = extend(this.counts, this.classes);
    this.last = extend(this.last, this.classes);
    this.peak = extend(this.peak, this.classes);
    this.steps = extend(this.steps, 1);
    this.free = [...Array.from({ length: capacity - old }, (_, i) => capacity - 1 - i), ...this.free];
  }
}

/** `[name, Float32Array [slots.length × size]]` for each pool: the rows of `slots`, copied. */
function gather(pools, sizes, slots) {
  return [...pools].map(([name, pool]) => {
    const size = sizes.get(name);
    const batch = new Float32Array(slots.length * size);
    slots.forEach((slot, i) => batch.set(pool.subarray(slot * size, (slot + 1) * size), i * size));
    return [name, batch];
  });
}

/** Write `batch(name)` (`[slots.length × size]`) into each pool's rows `slots`. */
function scatter(pools, sizes, slots, batch) {
  for (const [name, pool] of pools) {
    const size = sizes.get(name);
    const values = batch(name);
    slots.forEach((slot, i) => pool.set(values.subarray(i * size, (i + 1) * size), slot * size));
  }
}

function describe(value) {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length <= 60 ? text : `${text.slice(0, 57)}...`;
}

function brief(ids, limit = 8) {
  if (!ids.length) return 'none';
  return `[${ids.slice(0, limit).join(', ')}${ids.length > limit ? ', ...' : ''}] (${ids.length})`;
}
