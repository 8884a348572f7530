/**
 * Checking a step's input before anything runs, so that a rejected call changes nothing.
 *
 * An input is one step of S streams, shape `[S, ...inputShape]`, given either flat (a typed
 * array or an array of numbers holding the S × features values in row-major order) or as
 * nested arrays of that shape (or `[S, F]`, one step's values flattened, for N-D inputs). Spikes may
 * be booleans or integers, values any finite numbers within ±INPUT_LIMIT after conversion to
 * float32 (as in Python: SNU inputs are spikes or values in [0, 1], and the bound keeps every
 * membrane state finite). A model whose metadata says `binary` (int8 graphs) takes whole numbers
 * from 0 to SPIKE_LIMIT only, normally 0 or 1.
 */

import { InputDTypeError, InputShapeError, InputValueError } from './errors.js';
import { product } from './metadata.js';

export const INPUT_LIMIT = 1e6;
/**
 * The largest whole number a spikes-only (int8) model takes: ONNX Runtime's u8 x s8 kernels without
 * VNNI add pairs of products in saturating int16, and a pair of products of values up to 128 and
 * int8 weights stays within it, so every CPU computes the same bits (as Python's SPIKE_LIMIT).
 */
export const SPIKE_LIMIT = 128;

/**
 * `x` as a new Float32Array of `rows` × product(`shape`) checked values.
 *
 * @throws {InputDTypeError} values that are not numbers or booleans.
 * @throws {InputShapeError} a size that is not `[rows, ...shape]`.
 * @throws {InputValueError} NaN, Inf, beyond ±INPUT_LIMIT, or (binary) not a whole number from 0 to SPIKE_LIMIT.
 */
export function toInput(x, rows, shape, binary) {
  const wanted = [rows, ...shape];
  const size = product(wanted);
  let values;
  if (ArrayBuffer.isView(x) && !(x instanceof DataView)) {
    if (x instanceof BigInt64Array || x instanceof BigUint64Array) {
      throw new InputDTypeError(`Expected numbers for input of shape ${name(wanted)}, got a ${x.constructor.name}.`);
    }
    flatSize(x.length, size, wanted);
    values = new Float32Array(x);
    if (!binary && (x instanceof Uint8Array || x instanceof Uint8ClampedArray)) return values; // always in bounds
  } else if (Array.isArray(x)) {
    values = Array.isArray(x[0]) ? nested(x, wanted, size) : flat(x, size, wanted);
  } else {
    throw new InputDTypeError(`Expected a typed array or an array of numbers for input of shape ${name(wanted)}, ` +
                              `got ${x === null ? 'null' : typeof x}.`);
  }
  checkValues(values, wanted, binary);
  return values;
}

function flatSize(length, size, wanted) {
  if (length !== size) {
    throw new InputShapeError(`Expected input of shape ${name(wanted)}: ${size} values flat or nested arrays of that ` +
                              `shape, got a flat array of ${length} values.`);
  }
}

function flat(x, size, wanted) {
  flatSize(x.length, size, wanted);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i += 1) values[i] = element(x[i], wanted);
  return values;
}

function nested(x, wanted, size) {
  const shape = [];
  for (let level = x; Array.isArray(level); level = level[0]) shape.push(level.length);
  if (wanted.length > 2 && shape.length === 2 && shape[0] === wanted[0] && shape[1] * wanted[0] === size) {
    wanted = [wanted[0], shape[1]]; // [S, H*W*C]: one step's values flattened into one axis, as Python accepts
  }
  if (shape.length !== wanted.length || shape.some((n, i) => n !== wanted[i])) {
    throw new InputShapeError(`Expected input of shape ${name(wanted)}, got nested arrays of shape [${shape.join(', ')}].`);
  }
  const values = new Float32Array(size);
  let at = 0;
  const walk = (level, depth) => {
    if (!Array.isArray(level) || level.length !== wanted[depth]) {
      throw new InputShapeError(`Expected input of shape ${name(wanted)}, got ragged nested arrays.`);
    }
    if (depth === wanted.length - 1) {
      for (const item of level) {
        if (Array.isArray(item)) throw new InputShapeError(`Expected input of shape ${name(wanted)}, got ragged nested arrays.`);
        values[at] = element(item, wanted);
        at += 1;
      }
    } else {
      for (const item of level) walk(item, depth + 1);
    }
  };
  walk(x, 0);
  return values;
}

function element(value, wanted) {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  throw new InputDTypeError(`Expected spikes (booleans, integers) or real numbers for input of shape ${name(wanted)}, ` +
                            `got ${value === null ? 'null' : typeof value}.`);
}

function checkValues(values, wanted, binary) {
  let bad = 0;
  if (binary) {
    for (const v of values) if (!(v >= 0 && v <= SPIKE_LIMIT && v % 1 === 0)) bad += 1;
    if (bad) {
      throw new InputValueError(`This model takes spikes only (0 or 1; whole numbers up to ${SPIKE_LIMIT} are exact), got ${bad} ` +
                                `other value(s) in input of shape ${name(wanted)}.`);
    }
    return;
  }
  for (const v of values) if (!(Math.abs(v) <= INPUT_LIMIT)) bad += 1;
  if (bad) {
    throw new InputValueError(`Expected finite values within ±${INPUT_LIMIT}, got ${bad} NaN/Inf/out-of-range value(s) ` +
                              `in input of shape ${name(wanted)} (checked as float32).`);
  }
}

function name(wanted) {
  return `[streams=${wanted[0]}, ${wanted.slice(1).join(', ')}]`;
}
