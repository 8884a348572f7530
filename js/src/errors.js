/**
 * Errors the runtime raises on purpose, mirroring Python's `snudeploy.errors`.
 *
 * Every error derives from {@link SnudeployError}; catch one class narrowly or the base
 * broadly. A call that throws one of these changed no state.
 */

export class SnudeployError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An argument or option is invalid or beyond its limit. */
export class ConfigurationError extends SnudeployError {}

/** An input array has the wrong rank or size. */
export class InputShapeError extends SnudeployError {}

/** An input holds values that are not numbers (strings, objects, BigInts, ...). */
export class InputDTypeError extends SnudeployError {}

/** An input holds NaN or Inf, or values the model cannot take (or that would make its state so). */
export class InputValueError extends SnudeployError {}

/** A stream id is unknown, closed or repeated. */
export class UnknownStreamError extends SnudeployError {}

/** A model is missing, unreadable, untrusted, not a snudeploy model, or does not match its metadata. */
export class ModelFileError extends SnudeployError {}

/** A model's bytes do not match the digest its metadata was written with (schema 3). */
export class CorruptModelError extends ModelFileError {}

/** ONNX Runtime failed while running a model (the call changed no state). */
export class InferenceError extends SnudeployError {}
