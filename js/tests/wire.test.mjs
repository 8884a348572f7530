// The protobuf wire-format reader: fields as byte ranges, and malformed bytes as WireErrors.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { WireError, fields, text } from '../src/wire.js';

test('varints, length-delimited and fixed fields, with their ranges', () => {
  // field 1 varint 300; field 2 "hi"; field 3 fixed32; field 4 fixed64
  const bytes = Uint8Array.from([0x08, 0xac, 0x02, 0x12, 2, 0x68, 0x69, 0x1d, 1, 2, 3, 4, 0x21, 1, 2, 3, 4, 5, 6, 7, 8]);
  const found = [...fields(bytes)];
  assert.deepEqual(found.map((f) => [f.number, f.wire]), [[1, 0], [2, 2], [3, 5], [4, 1]]);
  assert.equal(found[0].value, 300);
  assert.equal(text(bytes, found[1]), 'hi');
  assert.deepEqual([found[1].begin, found[1].start, found[1].end], [3, 5, 7]);
  assert.equal(found[3].end, bytes.length);
  const big = Uint8Array.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]); // 2**53 - 1
  assert.equal([...fields(big)][0].value, 2 ** 53 - 1);
});

test('malformed bytes', () => {
  const cases = [
    [[0x08], /truncated varint/],
    [[0x12, 5, 1], /runs past the end/],
    [[0x0b], /unsupported wire type 3/],
    [[0x00, 0x00], /field number 0/],
    [[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], /longer than 10 bytes/],
  ];
  for (const [bytes, pattern] of cases) assert.throws(() => [...fields(Uint8Array.from(bytes))], (e) => e instanceof WireError && pattern.test(e.message));
  const invalid = Uint8Array.from([0x12, 2, 0xc3, 0x28]);
  assert.throws(() => text(invalid, [...fields(invalid)][0]), /not valid UTF-8/);
});
