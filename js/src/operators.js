/**
 * The operators snudeploy's exporters emit, per format: what a model file may contain.
 *
 * A model file is untrusted; a graph built to hang or exhaust the machine needs operators an
 * SNU never uses (a `ConstantOfShape` of 4 TiB folded while the session is created, a `Loop`
 * in a step graph). This is Python's `snudeploy.runtime.operators.ALLOWED`; a test compares the
 * two (tests/operators.test.mjs against the table tests/fixtures/make_fixtures.py exports).
 * Graphs you built yourself: `trustOperators: true` (the other checks still run).
 */

import { ModelFileError } from './errors.js';

export const ONNX_DOMAINS = ['', 'ai.onnx'];
export const CUSTOM_DOMAIN = 'ai.snudeploy';

const SNU = ['MatMul', 'Add', 'Sub', 'Mul', 'Greater', 'Cast', 'Identity', 'LeakyRelu', 'Relu', 'Sigmoid', 'ReduceMax',
  'Constant'];
const KINDS = ['Conv', 'Transpose', 'Reshape', 'ReduceSum', 'Div', 'Slice']; // convolution, pooling, flatten
export const INTEGER_OPS = new Set(['MatMulInteger', 'ConvInteger']);
export const ALLOWED = Object.freeze({
  step: new Set([...SNU, ...KINDS, ...INTEGER_OPS]),
  unrolled: new Set([...SNU, ...KINDS, ...INTEGER_OPS, 'Split', 'Concat', 'Squeeze', 'Unsqueeze', 'ReduceMean', 'Gather']),
  customop: new Set([...SNU, ...KINDS, ...INTEGER_OPS, 'Scan', 'ReduceMean', 'Shape', 'Concat', 'Gather']),
  loop: new Set([...SNU, ...KINDS, 'Loop', 'And', 'Less', 'Gather', 'Shape', 'Slice', 'Squeeze', 'Unsqueeze', 'Concat',
    'ReduceMean', 'StridedSlice']),
  nir: new Set(['MatMul', 'Add', 'Mul', 'Greater', 'Cast', 'Where', 'Identity', 'Conv', 'Div', 'Reshape']),
  lstm: new Set(['LSTM', 'Squeeze', 'Unsqueeze', 'Transpose', 'ReduceMean', // (+ a leaky integrator)
    'MatMul', 'Add', 'Mul', 'Identity', 'Scan', 'Gather', 'ReduceMax']),
});
export const CUSTOM_OPS = new Set(['SNUCell', 'SNULayer', 'SNUConv2DCell', 'SNUConv2DLayer']);

/**
 * Throw {@link ModelFileError} naming every operator the format's exporter does not emit.
 *
 * @param {{used: Array<[string, string]>, functions: Array<[string, string]>}} found from onnx.operators().
 */
export function checkOperators(found, info, source) {
  const allowed = ALLOWED[info.format];
  if (!allowed) {
    throw new ModelFileError(`${source} declares format '${info.format}', which snudeploy does not know ` +
                             `(${Object.keys(ALLOWED).join(', ')}); load it with trustOperators: true if you built it yourself.`);
  }
  const functions = new Set(found.functions.map(([domain, name]) => `${domain}\u0000${name}`));
  const foreign = found.used
    .filter(([domain, op]) => !(ONNX_DOMAINS.includes(domain) && allowed.has(op))
      && !(domain === CUSTOM_DOMAIN && CUSTOM_OPS.has(op) && functions.has(`${domain}\u0000${op}`)))
    .map(([domain, op]) => (domain ? `${domain}::${op}` : op))
    .sort();
  if (foreign.length) {
    throw new ModelFileError(`${source} contains operator(s) ${foreign.join(', ')}, which snudeploy's ${info.format} ` +
                             'exporter does not emit; refusing to run it (pass trustOperators: true for a graph you built yourself).');
  }
}
