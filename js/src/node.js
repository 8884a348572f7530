/**
 * The Node.js entry: {@link StreamingSession} on onnxruntime-node (its CPU binding), reading
 * models from paths, file: URLs, http(s) URLs or bytes.
 */

import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

import { ModelFileError } from './errors.js';
import { MAX_MODEL_BYTES } from './model.js';
import { StreamingSession as Session } from './session.js';
import { bytesOf, fetchModel } from './sources.js';

export * from './errors.js';
export { RateEncoder } from './encoding.js';

export class StreamingSession extends Session {
  static runtime = Object.freeze({
    ort, name: 'onnxruntime-node', providers: ['cpu'], read,
    threads: (n) => ({ intraOpNumThreads: n, interOpNumThreads: 1 }),
  });
}

async function read(model) {
  const bytes = bytesOf(model);
  if (bytes) return { bytes, source: 'model bytes' };
  if (typeof model === 'string' && /^https?:\/\//i.test(model)) return fetchModel(model);
  let path;
  if (model instanceof URL) {
    if (model.protocol !== 'file:') return fetchModel(model);
    path = fileURLToPath(model);
  } else if (typeof model === 'string') {
    path = model;
  } else {
    throw new ModelFileError(`Expected a model path, URL or the model's bytes, got ${model === null ? 'null' : typeof model}.`);
  }
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new ModelFileError(`Model file ${path} does not exist.`);
  }
  if (info.isDirectory()) throw new ModelFileError(`${path} is a folder; expected a snudeploy .onnx file.`);
  if (!info.isFile()) throw new ModelFileError(`${path} is not a regular file (a device, pipe or socket); expected an .onnx file.`);
  if (info.size > MAX_MODEL_BYTES) throw new ModelFileError(`${path} has ${info.size} bytes; models up to ${MAX_MODEL_BYTES} are read.`);
  if (/\.(json|h5|npz)$/i.test(path)) {
    throw new ModelFileError(`${path} is not an ONNX model; expected a .onnx file (checkpoints are folders: export them with \`snudeploy export\`).`);
  }
  const buffer = await readFile(path);
  return { bytes: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), source: path };
}
