/**
 * A static file server for the demo page (`npm run demo`): node:http, no dependencies.
 *
 * It serves the repository's files under a few prefixes only: the page, the runtime's ES
 * modules, the tests' parity fixtures, onnxruntime-web's dist/ folder (its .wasm files
 * included: nothing comes from a CDN) and the shipped models. No bundler: the page maps the
 * bare `onnxruntime-web` import to the served module with an import map.
 */

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PREFIXES = ['/js/demo/', '/js/src/', '/js/tests/', '/js/node_modules/onnxruntime-web/dist/', '/models/'];
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream', '.map': 'application/json',
};

/** Start serving on `host:port` (port 0: any free port); resolves to the server and its base URL. */
export async function serve({ port = 8024, host = '127.0.0.1' } = {}) {
  const server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, 'http://localhost').pathname));
    if (path === '/') {
      response.writeHead(302, { location: '/js/demo/' }).end();
      return;
    }
    const file = join(ROOT, path.endsWith('/') ? `${path}index.html` : path);
    const info = PREFIXES.some((prefix) => path.startsWith(prefix)) ? await stat(file).catch(() => null) : null;
    if (request.method !== 'GET' || !info?.isFile()) {
      response.writeHead(request.method === 'GET' ? 404 : 405, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': info.size,
      'cache-control': 'no-cache' });
    createReadStream(file).pipe(response);
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  return { server, url: `http://${host}:${server.address().port}` };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url } = await serve({ port: Number(process.env.PORT ?? 8024) });
  console.log(`snudeploy demo: ${url}/js/demo/ (Ctrl-C stops)`);
}
