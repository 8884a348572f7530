/**
 * The browser entry: {@link StreamingSession} on onnxruntime-web (WebAssembly), reading models
 * from URLs, Blobs/Files or bytes. Serve onnxruntime-web's dist/ folder beside its module: it
 * loads its .wasm files from there (demo/serve.mjs shows how, with an import map).
 *
 * `threads` sets onnxruntime-web's global `ort.env.wasm.numThreads` (before the first session);
 * more than one thread needs a cross-origin-isolated page.
 */

import * as ort from 'onnxruntime-web';

import { ModelFileError } from './errors.js';
import { StreamingSession as Session } from './session.js';
import { bytesOf, fetchModel } from './sources.js';

export * from './errors.js';
export { RateEncoder } from './encoding.js';

export class StreamingSession extends Session {
  static runtime = Object.freeze({
    ort, name: 'onnxruntime-web', providers: ['wasm'], read,
    threads: (n) => {
      ort.env.wasm.numThreads = n;
      return {};
    },
  });
}

async function read(model) {
  const bytes = bytesOf(model);
  if (bytes) return { bytes, source: 'model bytes' };
  if (typeof Blob !== 'undefined' && model instanceof Blob) {
    return { bytes: new Uint8Array(await model.arrayBuffer()), source: model.name ?? 'model blob' };
  }
  if (typeof model === 'string' || model instanceof URL) return fetchModel(model);
  throw new ModelFileError(`Expected a model URL, Blob or the model's bytes, got ${model === null ? 'null' : typeof model}.`);
}
