/**
 * A reader of protobuf's wire format, for the few ONNX fields the runtime needs.
 *
 * Why not a protobuf library: ONNX Runtime's JavaScript API does not expose a model's
 * `metadata_props` (where the snudeploy metadata lives), and the schema-3 digest hashes the
 * file's own top-level field bytes, which a decoder that re-serializes cannot give. Walking
 * tag/length pairs over the bytes takes a few dozen lines and no dependency.
 *
 * Fields are yielded lazily as byte ranges; nothing is copied. Malformed input (a truncated
 * varint or field, an unknown wire type, a field number 0) throws {@link WireError}.
 */

export class WireError extends Error {}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH = 2;
const FIXED32 = 5;

/**
 * The fields of one message in `bytes[start, end)`.
 *
 * @returns {Generator<{number: number, wire: number, begin: number, start: number, end: number, value: number}>}
 *   `begin`: where the field's tag starts; `start`/`end`: its payload (for varints, the varint's bytes);
 *   `value`: a varint's value (exact up to 2**53) or a length-delimited payload's length.
 */
export function* fields(bytes, start = 0, end = bytes.length) {
  let at = start;
  while (at < end) {
    const begin = at;
    let key;
    [key, at] = varint(bytes, at, end);
    const number = Math.floor(key / 8);
    const wire = key % 8;
    if (number < 1) throw new WireError(`field number 0 at byte ${begin}`);
    let value = 0;
    let payload = at;
    if (wire === VARINT) {
      [value, at] = varint(bytes, at, end);
    } else if (wire === LENGTH) {
      [value, payload] = varint(bytes, at, end);
      at = payload + value;
    } else if (wire === FIXED64) {
      at += 8;
    } else if (wire === FIXED32) {
      at += 4;
    } else {
      throw new WireError(`unsupported wire type ${wire} at byte ${begin}`);
    }
    if (at > end) throw new WireError(`field ${number} at byte ${begin} runs past the end of its message`);
    yield { number, wire, begin, start: payload, end: at, value };
  }
}

/** The fields numbered `number` of the message in `bytes[start, end)`. */
export function* only(bytes, number, start = 0, end = bytes.length) {
  for (const field of fields(bytes, start, end)) {
    if (field.number === number) yield field;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A length-delimited field as text (UTF-8; invalid bytes throw {@link WireError}). */
export function text(bytes, field) {
  if (field.wire !== LENGTH) throw new WireError(`field ${field.number} is not a string`);
  try {
    return utf8.decode(bytes.subarray(field.start, field.end));
  } catch {
    throw new WireError(`field ${field.number} at byte ${field.begin} is not valid UTF-8`);
  }
}

/** Whether `field` is a length-delimited one (strings, bytes, messages, packed arrays). */
export function delimited(field) {
  return field.wire === LENGTH;
}

function varint(bytes, at, end) {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i += 1) {
    if (at >= end) throw new WireError('truncated varint');
    const byte = bytes[at];
    at += 1;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) return [result, at];
    scale *= 128;
  }
  throw new WireError('varint longer than 10 bytes');
}
