import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const fixture = (name: string): string =>
  fileURLToPath(new URL(`../fixtures/consumers/${name}`, import.meta.url));

// The consumers load the build output through package.json "exports", as an installed copy would
// (`npm test` builds first).
describe('the built package', () => {
  for (const name of ['consumer.cjs', 'consumer.mjs']) {
    it(`works from ${name.endsWith('.cjs') ? 'CommonJS (require)' : 'an ES module (import)'}`, async () => {
      const { stdout, stderr } = await run(process.execPath, [fixture(name)], { timeout: 20_000 });
      assert.deepEqual(JSON.parse(stdout), {
        status: 401,
        body: '401 Unauthorized: ERR_TOKEN_MISSING\n',
        errorClass: 'function',
      });
      assert.equal(stderr, '');
    });
  }
});
