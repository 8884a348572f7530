// The JS operator table is Python's snudeploy.runtime.operators.ALLOWED (exported by make_fixtures.py).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { ALLOWED } from '../src/operators.js';

test('the allowed operators per format equal the Python runtime table', async () => {
  const python = JSON.parse(await readFile(new URL('fixtures/operators.json', import.meta.url), 'utf8'));
  const js = Object.fromEntries(Object.entries(ALLOWED).map(([format, ops]) => [format, [...ops].sort()]));
  assert.deepEqual(js, python);
});
