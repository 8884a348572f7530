/**
 * snudeploy-runtime: stream spikes through snudeploy's SNU ONNX models in Node.js
 * (onnxruntime-node) and in the browser (onnxruntime-web, WebAssembly). The same API in both;
 * the package's `node` and `browser` export conditions pick the ONNX Runtime.
 *
 * Shapes: a step takes S streams' inputs `[S, ...inputShape]` and returns their outputs
 * `[S, C]`. Inputs are flat (a typed array or an array of numbers or booleans holding the
 * S × features values, row-major) or nested arrays of exactly that shape. Outputs `[S, C]`
 * are flat typed arrays: row i (the i-th stream named) is `[i * C, (i + 1) * C)`. Outputs
 * `[S]` are plain arrays. `feed` takes one raw step `[S, rawFeatures]` and encodes it per stream
 * with the model's deterministic encoder (latency, delta, direct, spikes) before stepping.
 */

/** Base of every error the runtime raises on purpose (Python: snudeploy.errors.SnudeployError). */
export class SnudeployError extends Error {}
/** An argument or option is invalid or beyond its limit. */
export class ConfigurationError extends SnudeployError {}
/** An input has the wrong rank or size. */
export class InputShapeError extends SnudeployError {}
/** An input holds values that are not numbers or booleans. */
export class InputDTypeError extends SnudeployError {}
/** An input holds NaN/Inf/out-of-range values, or values the model cannot take, or would make a state so. */
export class InputValueError extends SnudeployError {}
/** A stream id is unknown, closed or repeated. */
export class UnknownStreamError extends SnudeployError {}
/** A model is missing, unreadable, untrusted, not a snudeploy model, or does not match its metadata. */
export class ModelFileError extends SnudeployError {}
/** A schema-3 model's bytes do not match its `snudeploy.sha256` digest. */
export class CorruptModelError extends ModelFileError {}
/** ONNX Runtime failed while running a model (no state changed). */
export class InferenceError extends SnudeployError {}

/** A model: a path or file: URL (Node), an http(s) URL, a Blob/File (browser), or the model's bytes. */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer | ArrayBufferView | Blob;

/** Stream ids: one id, several, or null for every open stream (in open order). */
export type Streams = number | Iterable<number> | null;

/** One step's input for S streams: flat values or nested arrays `[S, ...inputShape]`. */
export type StepInput = ArrayLike<number> | ArrayLike<boolean> | NestedArray;
export interface NestedArray extends Array<number | boolean | NestedArray> {}

export interface SessionOptions {
  /** ONNX Runtime intra-op threads (Node); in the browser onnxruntime-web's global `env.wasm.numThreads`. */
  threads?: number;
  /** "disable", "basic", "extended" or "all" (default). Models that ask ONNX Runtime to disable single optimizers run with "disable". */
  graphOptimizationLevel?: 'disable' | 'basic' | 'extended' | 'all';
  /** Check the file's digest (default true; from schema 3 on a file must carry one); false loads a file you edited on purpose. */
  checkDigest?: boolean;
  /** Accept operators snudeploy's exporters do not emit, for graphs you built yourself (default false). */
  trustOperators?: boolean;
  /** ONNX Runtime execution providers (default ["cpu"] in Node, ["wasm"] in the browser). */
  executionProviders?: string[];
}

export interface StateInfo {
  layer: number;
  kind: string;
  /** Graph input (`l{layer}_{kind}`) and output (`l{layer}_{kind}_next`). */
  input: string;
  output: string;
  /** Per-stream shape, and its product. */
  shape: number[];
  size: number;
}

export interface RateEncoding { kind: 'rate'; timesteps: number; maxSpikes: number; seed: number }
/** Time to first spike of static values in [0, 1]: x > 0 fires once, at min(floor((1 - x) T), T - 1). */
export interface LatencyEncoding { kind: 'latency'; timesteps: number }
/** Send-on-delta spikes of z = (x - mean) / scale per channel (ON spikes, then OFF spikes: 2 × channels inputs). */
export interface DeltaEncoding { kind: 'delta'; timesteps: number; mean: number[]; scale: number[]; threshold: number[] }
/** The normalised values z = (x - mean) / scale themselves (empty mean and scale: not fitted). */
export interface DirectEncoding { kind: 'direct'; timesteps: number; mean: number[]; scale: number[] }
/** Sequences that already are spikes (0/1), passed as they are. */
export interface SpikesEncoding { kind: 'spikes'; timesteps: number }
/** An encoding kind this runtime does not know, as stored (the model steps; feed refuses it). */
export interface OtherEncoding { kind: string; [field: string]: unknown }
export type Encoding = RateEncoding | LatencyEncoding | DeltaEncoding | DirectEncoding | SpikesEncoding | OtherEncoding;

/** The model's snudeploy metadata, schema 2 read as schema 3 (frozen). */
export interface ModelInfo {
  schemaVersion: number;
  format: string;
  graph: 'step' | 'sequence';
  opset: number;
  input: { name: string; shape: number[]; features: number; dtype: 'float32'; binary: boolean };
  /** In network order; every layer has `kind` and `outputShape`, plus its kind's fields as stored. */
  layers: Array<{ kind: string; outputShape: number[]; [field: string]: unknown }>;
  states: StateInfo[];
  outputs: { spikes: string; rates: string | null };
  /** The output layer's per-step shape; classes is its product. */
  outputShape: number[];
  classes: number;
  timesteps: number | null;
  /** How the model's training encoded inputs (each known kind's fields checked as Python checks them). */
  encoding: Encoding | null;
  dataset: string | null;
  readout: { kind: 'mean_rate' | 'spike_count' | 'membrane'; reduce: 'count' | 'last' | 'max'; [field: string]: unknown };
  /** As stored, plus `int8`: the graph computes with integer products. */
  quantization: { method: string; int8: boolean; [field: string]: unknown };
  producer: Record<string, unknown>;
  validation: Record<string, unknown> | null;
  source: Record<string, unknown> | null;
}

/** One stream's complete state (structured-cloneable: postMessage, IndexedDB). */
export interface StreamSnapshot {
  /** State input name (`l{i}_y`, `l{i}_s`, ...) -> the stream's values (its per-stream shape, flat). */
  states: Record<string, Float32Array>;
  steps: number;
  counts: Float64Array;
  last: Float32Array;
  /** Each output's running maximum since open/reset (-Infinity before any step): a membrane readout's "max". */
  peak: Float32Array;
  /**
   * The encoder's per-stream state for feed (delta: `reference`, `started`; latency: `t`; others none).
   * May be left out when the model's encoder keeps none (snapshots of older versions).
   */
  encoder?: Record<string, Float32Array>;
}

/**
 * Stateful spiking inference for many independent streams of one snudeploy model.
 * Every method that reads or changes streams returns a promise and runs after the calls made
 * before it, one at a time; a call that rejects changed no stream.
 */
export class StreamingSession {
  /** Load, check and start a model; rejects with ModelFileError/CorruptModelError/ConfigurationError. */
  static create(model: ModelSource, options?: SessionOptions): Promise<StreamingSession>;
  readonly info: ModelInfo;
  readonly features: number;
  readonly inputShape: number[];
  readonly classes: number;
  /** "onnxruntime-node" or "onnxruntime-web". */
  readonly runtime: string;
  /** The schema-3 digest (lowercase hex SHA-256), or null. */
  readonly digest: string | null;

  /** Open streams' ids, in open order. */
  streams(): Promise<number[]>;
  /** Open n streams at zero state; their ids are never reused in this session. */
  open(n?: number): Promise<number[]>;
  close(streams: Streams): Promise<void>;
  /** Zero the state and counters of streams (default: all open). */
  reset(streams?: Streams): Promise<void>;
  /** One time step of `streams` (default: all open); x is read when the step runs. Resolves to outputs `[S × C]`. */
  step(x: StepInput, streams?: Streams): Promise<Float32Array>;
  /**
   * One raw time step `[S, rawFeatures]` of `streams` (default: all open), encoded per stream with the model's
   * encoder from that stream's own encoder state (zeroed by open and reset, carried by snapshots, written back
   * only when the step succeeded), then stepped; resolves to outputs `[S × C]`. rawFeatures: the channels a
   * delta or direct encoding was fitted on, else `features`. Rejects with ConfigurationError for a model without
   * a deterministic encoding (rate draws random numbers: step its spikes), InputValueError for a spikes encoding
   * fed values other than 0 and 1, and step()'s errors otherwise.
   */
  feed(values: StepInput, streams?: Streams): Promise<Float32Array>;
  snapshot(stream: number): Promise<StreamSnapshot>;
  restore(stream: number, snapshot: StreamSnapshot): Promise<void>;
  /** The last step's outputs `[S × C]`. */
  lastSpikes(streams?: Streams): Promise<Float32Array>;
  /** Outputs summed since open/reset `[S × C]`. */
  spikeCounts(streams?: Streams): Promise<Float64Array>;
  /** Steps seen since open/reset `[S]`. */
  stepsSeen(streams?: Streams): Promise<number[]>;
  /** The readout's scores `[S × C]`: counts / steps, or a membrane readout's last value or running maximum. */
  rates(streams?: Streams): Promise<Float32Array>;
  /** Anytime prediction per stream `[S]` (ties to the lower class). */
  predict(streams?: Streams): Promise<number[]>;
  /** Whether each prediction is final with `remaining` steps left `[S]`. */
  decided(remaining: number, streams?: Streams): Promise<boolean[]>;
  /** Free ONNX Runtime's session after the calls already made. */
  release(): Promise<void>;
}

/** Rate encoding with a seeded generator (not numpy's: the same statistics, other draws). */
export class RateEncoder {
  constructor(encoding: { kind?: string; timesteps: number; maxSpikes: number }, seed?: number);
  readonly timesteps: number;
  readonly maxSpikes: number;
  /** One sample's F values in [0, 1] -> spikes `[timesteps × F]`. */
  encode(values: ArrayLike<number>): Uint8Array;
}
