// The JavaScript blocks of the docs marked `<!-- docs-test: node -->` run as written, from the
// repository root (as the docs' paths are), importing the package by its name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = new URL('../../', import.meta.url);
const PAGES = ['README.md', 'docs/embedding.md'];
const BLOCK = /<!-- docs-test: node -->\n```js\n([\s\S]*?)```/g;

for (const page of PAGES) {
  const text = await readFile(new URL(page, ROOT), 'utf8');
  [...text.matchAll(BLOCK)].forEach(([, code], i) => {
    test(`${page}, node block ${i + 1} runs`, async () => {
      // Inside js/, so that `import 'snudeploy-runtime'` resolves to this package (self-reference).
      const file = new URL(`../.docs-block-${process.pid}-${i}.mjs`, import.meta.url);
      await writeFile(file, code);
      try {
        const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(file)], { cwd: fileURLToPath(ROOT) });
        assert.ok(stdout.trim().length > 0, 'the block prints its result');
      } finally {
        await rm(file, { force: true });
      }
    });
  });
}

test('docs/embedding.md has node blocks to run', async () => {
  const text = await readFile(new URL('docs/embedding.md', ROOT), 'utf8');
  assert.ok([...text.matchAll(BLOCK)].length >= 1);
});
