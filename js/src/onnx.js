/**
 * The parts of an ONNX ModelProto the runtime reads itself, straight from the file's bytes
 * (see wire.js for why): the metadata properties, the top-level fields the schema-3 digest
 * covers, the operators of every graph and function body, and the weights.
 *
 * Field numbers are onnx.proto's; everything else in the file is left to ONNX Runtime.
 */

import { WireError, delimited, fields, only, text } from './wire.js';

const MODEL = { graph: 7, metadataProps: 14, functions: 25 };
const ENTRY = { key: 1, value: 2 };
const GRAPH = { node: 1, initializer: 5 };
const NODE = { opType: 4, attribute: 5, domain: 7 };
const ATTRIBUTE = { t: 5, g: 6, graphs: 11 };
const FUNCTION = { name: 1, node: 7, domain: 10 };
const TENSOR = { dataType: 2, floatData: 4, int32Data: 5, name: 8, rawData: 9, doubleData: 10, dataLocation: 14 };
const FLOAT = 1;
const FLOAT16 = 10;
const DOUBLE = 11;
const EXTERNAL = 1;

export { WireError };

/**
 * The top level of a serialized model.
 *
 * @param {Uint8Array} bytes
 * @returns {{props: Map<string, {text: string, bytes: Uint8Array}>, covered: Array<[number, number]>,
 *            graph: object|null, functions: object[]}}
 *   `props`: metadata_props by key (the last entry wins, as in Python's dict of them), each value as
 *   text and as its stored UTF-8 bytes; `covered`: [begin, end) of every top-level field except
 *   metadata_props, in file order (what the digest hashes before the metadata).
 */
export function readModel(bytes) {
  const props = new Map();
  const covered = [];
  let graph = null;
  const functions = [];
  for (const field of fields(bytes)) {
    if (field.number === MODEL.metadataProps) {
      let key = '';
      let value = null;
      for (const part of fields(bytes, field.start, field.end)) {
        if (part.number === ENTRY.key) key = text(bytes, part);
        else if (part.number === ENTRY.value) value = part;
      }
      const stored = value ? bytes.subarray(value.start, value.end) : new Uint8Array(0);
      props.set(key, { text: value ? text(bytes, value) : '', bytes: stored });
      continue;
    }
    covered.push([field.begin, field.end]);
    if (field.number === MODEL.graph && delimited(field)) graph = field;
    else if (field.number === MODEL.functions && delimited(field)) functions.push(field);
  }
  return { props, covered, graph, functions };
}

/**
 * `[domain, op_type]` of every node: the graph, its subgraphs, and model-local function bodies;
 * and the `[domain, name]` of every model-local function.
 */
export function operators(bytes, model) {
  const used = new Map();
  const stack = [];
  if (model.graph) stack.push(...only(bytes, GRAPH.node, model.graph.start, model.graph.end));
  const defined = [];
  for (const fn of model.functions) {
    let name = '';
    let domain = '';
    for (const part of fields(bytes, fn.start, fn.end)) {
      if (part.number === FUNCTION.name) name = text(bytes, part);
      else if (part.number === FUNCTION.domain) domain = text(bytes, part);
      else if (part.number === FUNCTION.node) stack.push(part);
    }
    defined.push([domain, name]);
  }
  while (stack.length) {
    const node = stack.pop();
    let op = '';
    let domain = '';
    for (const part of fields(bytes, node.start, node.end)) {
      if (part.number === NODE.opType) op = text(bytes, part);
      else if (part.number === NODE.domain) domain = text(bytes, part);
      else if (part.number === NODE.attribute) {
        for (const graph of subgraphs(bytes, part)) stack.push(...only(bytes, GRAPH.node, graph.start, graph.end));
      }
    }
    used.set(`${domain}\u0000${op}`, [domain, op]);
  }
  return { used: [...used.values()], functions: defined };
}

/**
 * Every weight of the graph and its subgraphs (initializers and Constant-style tensor
 * attributes), as `{name, external, finite}`: `finite` is false when a float tensor holds NaN or Inf.
 */
export function* weights(bytes, model) {
  if (!model.graph) return;
  const graphs = [model.graph];
  while (graphs.length) {
    const graph = graphs.pop();
    for (const field of fields(bytes, graph.start, graph.end)) {
      if (field.number === GRAPH.initializer) yield tensor(bytes, field);
      if (field.number !== GRAPH.node) continue;
      for (const attribute of only(bytes, NODE.attribute, field.start, field.end)) {
        for (const part of only(bytes, ATTRIBUTE.t, attribute.start, attribute.end)) yield tensor(bytes, part);
        graphs.push(...subgraphs(bytes, attribute));
      }
    }
  }
}

function* subgraphs(bytes, attribute) {
  for (const part of fields(bytes, attribute.start, attribute.end)) {
    if ((part.number === ATTRIBUTE.g || part.number === ATTRIBUTE.graphs) && delimited(part)) yield part;
  }
}

function tensor(bytes, field) {
  let name = '';
  let type = 0;
  let external = false;
  const data = [];
  for (const part of fields(bytes, field.start, field.end)) {
    if (part.number === TENSOR.name) name = text(bytes, part);
    else if (part.number === TENSOR.dataType) type = part.value;
    else if (part.number === TENSOR.dataLocation) external = part.value === EXTERNAL;
    else if ([TENSOR.rawData, TENSOR.floatData, TENSOR.doubleData, TENSOR.int32Data].includes(part.number)) data.push(part);
  }
  const finite = data.every((part) => finiteValues(bytes, type, part));
  return { name, external, finite };
}

/** Whether the values of one data field of a tensor of ONNX type `type` are finite (non-float types are). */
function finiteValues(bytes, type, part) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const float32 = type === FLOAT && part.number !== TENSOR.int32Data;
  const float64 = type === DOUBLE && part.number !== TENSOR.int32Data;
  if (float32 && part.wire === 5) return Number.isFinite(view.getFloat32(part.start, true));
  if (float64 && part.wire === 1) return Number.isFinite(view.getFloat64(part.start, true));
  if (!delimited(part)) return true;
  if (float32) {
    for (let at = part.start; at + 4 <= part.end; at += 4) if (!Number.isFinite(view.getFloat32(at, true))) return false;
  } else if (float64) {
    for (let at = part.start; at + 8 <= part.end; at += 8) if (!Number.isFinite(view.getFloat64(at, true))) return false;
  } else if (type === FLOAT16 && part.number === TENSOR.rawData) {
    for (let at = part.start; at + 2 <= part.end; at += 2) if ((view.getUint16(at, true) & 0x7c00) === 0x7c00) return false;
  }
  return true;
}
