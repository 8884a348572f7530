/** Model bytes from what callers hand over: bytes in any of their JavaScript forms, or a URL to fetch. */

import { ModelFileError } from './errors.js';
import { MAX_MODEL_BYTES } from './model.js';

/** `model` as a Uint8Array when it is bytes (Uint8Array, Buffer, another typed array, ArrayBuffer); else null. */
export function bytesOf(model) {
  if (model instanceof Uint8Array) return model;
  if (model instanceof ArrayBuffer) return new Uint8Array(model);
  if (ArrayBuffer.isView(model)) return new Uint8Array(model.buffer, model.byteOffset, model.byteLength);
  return null;
}

/** Fetch a model; a failed request or an HTTP error is a {@link ModelFileError}. */
export async function fetchModel(url) {
  const source = String(url);
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new ModelFileError(`${source} cannot be fetched (${e.message}).`);
  }
  if (!response.ok) throw new ModelFileError(`${source} cannot be fetched (HTTP ${response.status} ${response.statusText}).`);
  const length = Number(response.headers.get('content-length'));
  if (length > MAX_MODEL_BYTES) throw new ModelFileError(`${source} has ${length} bytes; models up to ${MAX_MODEL_BYTES} are read.`);
  return { bytes: new Uint8Array(await response.arrayBuffer()), source };
}
