/**
 * Loading a snudeploy model from its bytes: checked metadata, digest, operators and weights,
 * before ONNX Runtime sees the file; then the graph's signature against the metadata.
 *
 * A model file is untrusted input. Python's `snudeploy.runtime.model.load_model` makes the
 * same checks in the same order; any failure is a {@link ModelFileError} (a digest mismatch
 * is its subclass {@link CorruptModelError}).
 */

import { CorruptModelError, ModelFileError } from './errors.js';
import { DIGEST_KEY, METADATA_KEY, parse } from './metadata.js';
import { WireError, operators, readModel, weights } from './onnx.js';
import { INTEGER_OPS, checkOperators } from './operators.js';

export const MAX_MODEL_BYTES = 2 ** 30; // 1 GiB; snudeploy's largest reference model is ~1 MB

/**
 * Read and check a model.
 *
 * @param {Uint8Array} bytes the serialized model.
 * @param {{source?: string, checkDigest?: boolean, trustOperators?: boolean}} options
 *   `checkDigest: false` skips the digest check (for files edited on purpose; from schema 3 on, files carry one);
 *   `trustOperators: true` accepts operators snudeploy's exporters do not emit.
 * @returns {Promise<{source: string, bytes: Uint8Array, info: object, digest: string|null}>}
 */
export async function loadModel(bytes, { source = 'model bytes', checkDigest = true, trustOperators = false } = {}) {
  if (bytes.length > MAX_MODEL_BYTES) throw new ModelFileError(`${source} has ${bytes.length} bytes; models up to ${MAX_MODEL_BYTES} are read.`);
  const model = wire(source, () => readModel(bytes));
  if (!model.graph) throw new ModelFileError(`${source} is not an ONNX model (no graph).`);
  const metadata = model.props.get(METADATA_KEY);
  const info = parse(metadata?.text, source);
  const digest = model.props.get(DIGEST_KEY)?.text ?? null;
  if (checkDigest) await verify(bytes, model, metadata, digest, info, source);
  const found = wire(source, () => operators(bytes, model));
  checkClaims(found, info, source);
  if (!trustOperators) checkOperators(found, info, source);
  wire(source, () => {
    for (const weight of weights(bytes, model)) {
      if (weight.external) {
        throw new ModelFileError(`${source}: weight '${weight.name}' is stored in an external file, which this runtime ` +
                                 'does not read; export the model with its weights inside.');
      }
      if (!weight.finite) throw new ModelFileError(`${source}: weight '${weight.name}' holds NaN or Inf values; refusing to run it.`);
    }
  });
  return { source, bytes, info, digest };
}

function wire(source, read) {
  try {
    return read();
  } catch (e) {
    if (e instanceof WireError) throw new ModelFileError(`${source} is not a readable ONNX model (${e.message}).`);
    throw e;
  }
}

/**
 * The schema-3 digest: SHA-256 over every top-level field but metadata_props, as stored and in
 * file order, then the UTF-8 bytes of the snudeploy metadata. crypto.subtle is Node's and the
 * browser's (a secure context: https or localhost).
 */
export async function computeDigest(bytes, model, metadata) {
  const parts = model.covered.map(([begin, end]) => bytes.subarray(begin, end));
  parts.push(metadata?.bytes ?? new Uint8Array(0));
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  if (!globalThis.crypto?.subtle) {
    throw new ModelFileError('Checking the model digest needs crypto.subtle (browsers offer it on https and localhost ' +
                             'pages only); serve the page securely, or pass checkDigest: false.');
  }
  const hash = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', joined));
  return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Refuse a file whose seal is missing (schema 3 on) or does not match its bytes. */
async function verify(bytes, model, metadata, digest, info, source) {
  if (digest === null) {
    if (info.schemaVersion < 3) return; // schema 1 and 2 files have no digest
    throw new CorruptModelError(`${source} is corrupted or was edited: its seal (${DIGEST_KEY}) is missing. Load it with ` +
                                'checkDigest: false if you edited it on purpose.');
  }
  const actual = await computeDigest(bytes, model, metadata);
  if (digest !== actual) {
    throw new CorruptModelError(`${source} is corrupted: its bytes do not match the digest written at export ` +
                                `(${DIGEST_KEY} ${digest.slice(0, 16)}..., the bytes hash to ${actual.slice(0, 16)}...). ` +
                                'Load it with checkDigest: false if you edited it on purpose.');
  }
}

/** What the metadata claims about the whole graph's arithmetic: integer products exactly when it says int8. */
function checkClaims(found, info, source) {
  const integer = [...new Set(found.used.map(([, op]) => op).filter((op) => INTEGER_OPS.has(op)))].sort();
  const problems = [];
  if ((integer.length > 0) !== info.quantization.int8) {
    problems.push(`quantization says ${info.quantization.int8 ? 'integer' : 'float'} arithmetic, the graph has ` +
                  `${integer.length ? `integer operators ${integer.join(', ')}` : 'no integer operators'}`);
  }
  if (info.input.binary && !integer.length) problems.push('input.binary says the graph takes spikes only, but it has no integer operators');
  if (problems.length) throw new ModelFileError(`${source} does not match its snudeploy metadata: ${problems.join('; ')}.`);
}

/**
 * Check the graph's inputs and outputs (from ONNX Runtime's metadata of them) against the snudeploy metadata,
 * and an unrolled graph's fixed T against its `timesteps`.
 *
 * @param {{inputNames: string[], outputNames: string[], inputMetadata: object[], outputMetadata: object[]}} session
 * @throws {ModelFileError} naming every mismatch.
 */
export function checkSignature(session, info, source) {
  const time = info.graph === 'sequence' ? [info.timesteps] : [];
  const wantedIn = new Map([[info.input.name, [null, ...time, ...info.input.shape]]]);
  const wantedOut = new Map([[info.outputs.spikes, [null, ...time, ...info.outputShape]]]);
  if (info.outputs.rates) wantedOut.set(info.outputs.rates, [null, ...info.outputShape]);
  for (const s of info.states) {
    wantedIn.set(s.input, [null, ...s.shape]);
    wantedOut.set(s.output, [null, ...s.shape]);
  }
  const problems = [];
  for (const [side, wanted, values] of [['input', wantedIn, session.inputMetadata], ['output', wantedOut, session.outputMetadata]]) {
    const have = new Map(values.map((v) => [v.name, v]));
    const missing = [...wanted.keys()].filter((n) => !have.has(n));
    if (missing.length) problems.push(`graph ${side}(s) ${missing.join(', ')} named by its metadata do not exist`);
    for (const [name, dims] of wanted) {
      const problem = have.has(name) ? mismatch(have.get(name), dims) : null;
      if (problem) problems.push(`${name} ${problem}`);
    }
  }
  const extra = session.inputNames.filter((n) => !wantedIn.has(n)).sort();
  if (extra.length) problems.push(`graph inputs ${JSON.stringify(extra)} are not in its metadata`);
  if (info.format === 'unrolled') {
    const graphT = session.inputMetadata.find((v) => v.name === info.input.name)?.shape?.[1];
    const fixed = typeof graphT === 'number' && graphT > 0 ? graphT : null;
    if (info.timesteps === null || fixed !== info.timesteps) {
      problems.push(`timesteps is ${info.timesteps}, the unrolled graph's input takes T = ${fixed}`);
    }
  }
  if (problems.length) throw new ModelFileError(`${source} does not match its snudeploy metadata: ${problems.join('; ')}.`);
}

function mismatch(value, wanted) {
  if (!value.isTensor) return 'is not a tensor, expected a float32 tensor';
  if (value.type !== 'float32') return `has element type ${value.type}, expected float32`;
  if (!value.shape.length) return null; // no declared shape
  const dims = value.shape.map((d) => (typeof d === 'number' && d > 0 ? d : null));
  if (dims.length !== wanted.length) return `has rank ${dims.length}, expected ${wanted.length} (${describe(wanted)})`;
  if (dims.some((d, i) => d !== null && wanted[i] != null && d !== wanted[i])) {
    return `has shape ${describe(dims)}, its metadata says ${describe(wanted)}`;
  }
  return null;
}

/** `[?, 8, 8]` for a shape with unknown sizes. */
export function describe(dims) {
  return `[${dims.map((d) => (d == null ? '?' : d)).join(', ')}]`;
}

/** T of a sequence graph that takes one length only (a fixed time axis, or the unrolled format); else null. */
export function fixedTimesteps(session, info) {
  if (info.graph !== 'sequence') return null;
  const x = session.inputMetadata.find((v) => v.name === info.input.name);
  const time = x?.shape?.[1];
  if (x && x.shape.length === 2 + info.input.shape.length && typeof time === 'number' && time > 0) return time;
  return info.format === 'unrolled' && info.timesteps ? info.timesteps : null;
}
