/**
 * The `snudeploy` metadata every exported ONNX file carries (`metadata_props["snudeploy"]`),
 * parsed and checked once into a frozen object; the runtime needs nothing else.
 *
 * Reads schemas 1 to 3, as Python's `snudeploy.metadata` does: schema 3 has N-D shapes, layer
 * kinds, readout objects and a digest; a schema-2 file reads as schema 3 by the contract's mapping
 * (its input shape is `[features]`, each layer's kind is its `cell` and its output shape `[units]`,
 * its readout the string `"mean_rate"`). The naming contract is checked for every schema: state
 * `kind` of layer i is fed as `l{i}_{kind}` and returned as `l{i}_{kind}_next`. Python also checks
 * that the layers of its registered kinds chain (each output shape follows from the one before);
 * this runtime needs only the input, state and output shapes, which it checks against the graph.
 * Both check that a membrane readout reads a `leaky_integrator` output layer, and only it, and
 * the `encoding` fields of every kind (see ENCODINGS).
 */

import { ModelFileError } from './errors.js';

export const METADATA_KEY = 'snudeploy';
export const DIGEST_KEY = 'snudeploy.sha256';
export const SCHEMA_VERSION = 3;
export const MAX_METADATA_BYTES = 1 << 22;
export const LIMITS = Object.freeze({
  streams: 1 << 20, units: 1 << 16, features: 1 << 20, layers: 64, timesteps: 1 << 16, rank: 8,
});
const GRAPHS = ['step', 'sequence'];

/** How each readout turns a stream's outputs into a prediction (see session.js). */
export const READOUTS = Object.freeze({
  mean_rate: { reduce: 'count' },
  spike_count: { reduce: 'count' },
  membrane: { reduce: ['last', 'max'] },
});

class Invalid extends Error {}

/**
 * Parse and check the metadata JSON.
 *
 * @param {string|undefined} text the `snudeploy` metadata value.
 * @param {string} source how to name the model in messages.
 * @throws {ModelFileError} what is missing, malformed or beyond a limit.
 */
export function parse(text, source = 'model') {
  if (!text) throw new ModelFileError(`${source} is not a snudeploy model: it has no '${METADATA_KEY}' metadata.`);
  if (text.length > MAX_METADATA_BYTES) {
    throw new ModelFileError(`${source} has snudeploy metadata of ${text.length} bytes; at most ${MAX_METADATA_BYTES} are read.`);
  }
  let raw;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelFileError(`${source} has corrupt snudeploy metadata: ${e.message}`);
  }
  if (!isObject(raw)) throw new ModelFileError(`${source} has corrupt snudeploy metadata: not a JSON object.`);
  const version = raw.schema_version;
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new ModelFileError(`${source} has snudeploy metadata without a valid schema version.`);
  }
  if (version > SCHEMA_VERSION) {
    throw new ModelFileError(`${source} was written with metadata schema ${version}; this runtime reads up to ` +
                             `${SCHEMA_VERSION}. Upgrade snudeploy-runtime.`);
  }
  const missing = ['format', 'graph', 'input', 'layers', 'states'].filter((k) => !(k in raw));
  if (missing.length) throw new ModelFileError(`${source} has incomplete snudeploy metadata (missing ${missing.join(', ')}).`);
  let info;
  try {
    info = fromRaw(raw, version);
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    throw new ModelFileError(`${source} has invalid snudeploy metadata: ${e.message}`);
  }
  const problems = crossChecks(info);
  if (problems.length) throw new ModelFileError(`${source} has invalid snudeploy metadata: ${problems.join('; ')}.`);
  return deepFreeze(info);
}

function fromRaw(raw, version) {
  const layers = list(raw.layers, 'layers').map((entry) => layer(entry, version));
  if (!layers.length) throw new Invalid('it lists no layers');
  const input = object(raw.input, 'input');
  const shape = version >= 3 ? dims(input.shape, 'input.shape')
    : [integer(input.features, 'input.features', 1, LIMITS.features)];
  const features = integer(input.features ?? product(shape), 'input.features', 1, LIMITS.features);
  if (features !== product(shape)) {
    throw new Invalid(`\`input.features\` (${features}) is not the product of \`input.shape\` ${JSON.stringify(shape)}`);
  }
  const outputs = object(raw.outputs ?? { spikes: 'spikes' }, 'outputs');
  const quantization = object(raw.quantization ?? { method: 'none' }, 'quantization');
  const disabled = quantization.ort_disabled_optimizers ?? [];
  if (!Array.isArray(disabled) || !disabled.every((n) => typeof n === 'string')) {
    throw new Invalid(`\`quantization.ort_disabled_optimizers\` must be a list of optimizer names, got ${short(disabled)}`);
  }
  const last = layers[layers.length - 1].outputShape;
  const binary = bool(input.binary ?? false, 'input.binary');
  return {
    schemaVersion: version,
    format: name(raw.format, 'format'),
    graph: choice(raw.graph, 'graph', GRAPHS),
    opset: integer(raw.opset ?? 0, 'opset', 0, 1000),
    input: {
      name: name(input.name, 'input.name'), shape, features,
      dtype: choice(input.dtype ?? 'float32', 'input.dtype', ['float32']),
      binary,
    },
    layers,
    states: list(raw.states, 'states').map((entry) => state(entry, layers, version)),
    outputs: {
      spikes: name(outputs.spikes, 'outputs.spikes'),
      rates: outputs.rates == null ? null : name(outputs.rates, 'outputs.rates'),
    },
    outputShape: last,
    classes: product(last),
    timesteps: raw.timesteps == null ? null : integer(raw.timesteps, 'timesteps', 1, LIMITS.timesteps),
    encoding: raw.encoding ? encoding(raw.encoding) : null,
    dataset: raw.dataset == null ? null : name(raw.dataset, 'dataset'),
    readout: readout(raw.readout ?? 'mean_rate'),
    quantization: {
      ...quantization, method: name(quantization.method ?? 'none', 'quantization.method'),
      // integer products (schema 2's int8 graphs said so with their spikes-only input)
      int8: quantization.arithmetic === 'integer' || (version < 3 && binary),
    },
    producer: object(raw.producer ?? {}, 'producer'),
    validation: raw.validation == null ? null : object(raw.validation, 'validation'),
    source: raw.source == null ? null : object(raw.source, 'source'),
  };
}

function layer(entry, version) {
  entry = object(entry, 'layer');
  if (version >= 3) {
    // A reader of schema 3 must not fail on a layer kind it does not know: it needs states and shapes only.
    return { ...entry, kind: name(entry.kind, 'layers.kind'), outputShape: dims(entry.output_shape, 'layers.output_shape') };
  }
  const units = integer(entry.units, 'layers.units', 1, LIMITS.units);
  if (entry.decay != null) number(entry.decay, 'layers.decay', 0, 1);
  return { ...entry, kind: name(entry.cell ?? 'snu', 'layers.cell'), units, outputShape: [units] };
}

function state(entry, layers, version) {
  entry = object(entry, 'state');
  const layerIndex = integer(entry.layer, 'states.layer', 0, layers.length - 1);
  const kind = name(entry.kind, 'states.kind');
  const input = name(entry.input, 'states.input');
  const output = name(entry.output, 'states.output');
  let shape = layers[layerIndex].outputShape;
  if (entry.shape == null && version >= 3) throw new Invalid('every state needs its `shape`');
  if (entry.shape != null) {
    const raw = list(entry.shape, 'states.shape');
    if (raw.length < 2 || raw[0] !== null) throw new Invalid(`state shape must be [null, ...sizes], got ${short(raw)}`);
    if (version < 3 && raw.length !== 2) throw new Invalid(`state shape must be [null, units], got ${short(raw)}`);
    shape = dims(raw.slice(1), 'states.shape');
  }
  if (input !== `l${layerIndex}_${kind}` || output !== `l${layerIndex}_${kind}_next`) {
    throw new Invalid(`state '${kind}' of layer ${layerIndex} is wired ${input} -> ${output}; the naming contract says ` +
                      `l${layerIndex}_${kind} -> l${layerIndex}_${kind}_next`);
  }
  choice(entry.dtype ?? 'float32', 'states.dtype', ['float32']);
  return { layer: layerIndex, kind, input, output, shape, size: product(shape) };
}

/**
 * The fields of each encoding kind Python's `snudeploy.encoding` knows, with their defaults (its dataclasses'):
 * every field is checked as Python checks it, and a field a kind does not have is refused, as Python refuses it
 * (the fields describe the arithmetic completely). A kind this runtime does not know is kept as stored: such a
 * model still steps, and feed() says why it cannot encode for it.
 */
const ENCODINGS = Object.freeze({
  rate: ['timesteps', 'max_spikes', 'seed'],
  latency: ['timesteps'],
  delta: ['timesteps', 'mean', 'scale', 'threshold'],
  direct: ['timesteps', 'mean', 'scale'],
  spikes: ['timesteps'],
});

function encoding(raw) {
  raw = object(raw, 'encoding');
  const kind = name(raw.kind ?? 'rate', 'encoding.kind');
  if (!(kind in ENCODINGS)) return { ...raw, kind };
  const unknown = Object.keys(raw).filter((k) => k !== 'kind' && !ENCODINGS[kind].includes(k)).sort();
  if (unknown.length) throw new Invalid(`unknown ${kind} encoding field(s): ${unknown.join(', ')}`);
  const timesteps = integer(raw.timesteps ?? 20, 'encoding.timesteps', 1, LIMITS.timesteps);
  if (kind === 'rate') {
    return {
      kind, timesteps,
      maxSpikes: number(raw.max_spikes ?? 6, 'encoding.max_spikes', 0, timesteps),
      seed: integer(raw.seed ?? 0, 'encoding.seed', 0, Number.MAX_SAFE_INTEGER),
    };
  }
  if (kind !== 'delta' && kind !== 'direct') return { kind, timesteps };
  const mean = numbers(raw.mean ?? [], 'encoding.mean');
  const scale = numbers(raw.scale ?? [], 'encoding.scale');
  if (mean.length !== scale.length) throw new Invalid(`\`encoding.mean\` and \`encoding.scale\` differ in length (${mean.length} and ${scale.length})`);
  if (scale.some((s) => s <= 0)) throw new Invalid('`encoding.scale` values must be positive');
  if (kind === 'direct') return { kind, timesteps, mean, scale };
  const threshold = numbers(raw.threshold ?? [], 'encoding.threshold');
  if (threshold.length !== mean.length || threshold.some((t) => t <= 0)) {
    throw new Invalid(`a delta encoding needs one positive threshold per channel (${mean.length}), got ${short(threshold)}`);
  }
  return { kind, timesteps, mean, scale, threshold };
}

function readout(raw) {
  const entry = typeof raw === 'string' ? { kind: raw } : object(raw, 'readout');
  const kind = choice(entry.kind, 'readout.kind', Object.keys(READOUTS));
  const reduce = READOUTS[kind].reduce;
  return { ...entry, kind, reduce: Array.isArray(reduce) ? choice(entry.reduce ?? 'last', 'readout.reduce', reduce) : reduce };
}

function crossChecks(info) {
  const problems = [];
  if (!info.states.length) problems.push('it lists no state tensors');
  const inputs = [info.input.name, ...info.states.map((s) => s.input)];
  const outputs = [info.outputs.spikes, ...info.states.map((s) => s.output), ...(info.outputs.rates ? [info.outputs.rates] : [])];
  for (const [side, names] of [['input', inputs], ['output', outputs]]) {
    const repeated = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))].sort();
    if (repeated.length) problems.push(`${side} names repeat: ${JSON.stringify(repeated)}`);
  }
  if (info.layers.length > LIMITS.layers) problems.push(`it has ${info.layers.length} layers (at most ${LIMITS.layers})`);
  const output = info.layers[info.layers.length - 1].kind;
  if ((output === 'leaky_integrator') !== (info.readout.kind === 'membrane')) {
    problems.push(`the ${info.readout.kind} readout ${output === 'leaky_integrator' ? 'cannot read' : 'needs'} a leaky_integrator ` +
                  `output layer; the last layer is ${output}`);
  }
  return problems;
}

/** The product of a shape's sizes. */
export function product(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

function dims(value, what) {
  const shape = list(value, what);
  if (!shape.length || shape.length > LIMITS.rank) throw new Invalid(`\`${what}\` must list 1 to ${LIMITS.rank} sizes, got ${short(value)}`);
  shape.forEach((size) => integer(size, what, 1, LIMITS.features));
  if (product(shape) > LIMITS.features) throw new Invalid(`\`${what}\` ${short(value)} has more than ${LIMITS.features} elements`);
  return [...shape];
}

function integer(value, what, minimum, maximum) {
  if (!Number.isSafeInteger(value) || value < minimum || value > maximum) {
    throw new Invalid(`\`${what}\` must be an integer from ${minimum} to ${maximum}, got ${short(value)}`);
  }
  return value;
}

function number(value, what, minimum, maximum) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < minimum || value > maximum) {
    throw new Invalid(`\`${what}\` must be a number from ${minimum} to ${maximum}, got ${short(value)}`);
  }
  return value;
}

function numbers(value, what) {
  const values = list(value, what);
  if (values.length > LIMITS.features) throw new Invalid(`\`${what}\` lists more than ${LIMITS.features} values`);
  if (!values.every((v) => typeof v === 'number' && Number.isFinite(v))) throw new Invalid(`\`${what}\` must list finite numbers, got ${short(value)}`);
  return [...values];
}

function name(value, what) {
  if (typeof value !== 'string' || !value || value.length > 256) {
    throw new Invalid(`\`${what}\` must be a name (1-256 characters), got ${short(value)}`);
  }
  return value;
}

function choice(value, what, choices) {
  if (!choices.includes(value)) throw new Invalid(`\`${what}\` must be one of ${choices.join(', ')}, got ${short(value)}`);
  return value;
}

function bool(value, what) {
  if (typeof value !== 'boolean') throw new Invalid(`\`${what}\` must be true or false, got ${short(value)}`);
  return value;
}

function object(value, what) {
  if (!isObject(value)) throw new Invalid(`\`${what}\` must be an object, got ${short(value)}`);
  return value;
}

function list(value, what) {
  if (!Array.isArray(value)) throw new Invalid(`\`${what}\` must be a list, got ${short(value)}`);
  return value;
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function short(value) {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 60 ? text : `${text.slice(0, 57)}...`;
}

function deepFreeze(value) {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    Object.values(value).forEach(deepFreeze);
  }
  return value;
}
