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
      // Node 22.12.0 enabled require() of ES modules with a one-time warning, dropped in 22.13.
      const warning = /^v22\.12\./.test(process.version) && name.endsWith('.cjs');
      assert.match(stderr, warning ? /ExperimentalWarning: CommonJS module .* ES Module/ : /^$/);
    });
  }

  // README, "Node versions": http-proxy (under http-proxy-middleware 3) calls util._extend, which
  // Node 22 and later report once per process; the package leaves process-wide settings alone.
  it('lets http-proxy report DEP0060 once on Node 22+, and --disable-warning=DEP0060 silence it', async () => {
    const warns = Number(process.versions.node.split('.')[0]) >= 22;
    for (const flags of [[], ['--disable-warning=DEP0060']]) {
      const { stdout, stderr } = await run(
        process.execPath,
        [...flags, fixture('deprecation.mjs')],
        { timeout: 20_000 },
      );
      assert.deepEqual(JSON.parse(stdout), { statuses: [200, 200], noDeprecation: null });
      const reported =
        stderr.match(/\[DEP0060\] DeprecationWarning: The `util._extend` API/g) ?? [];
      assert.equal(reported.length, warns && flags.length === 0 ? 1 : 0, stderr);
      assert.equal(stderr.replace(/\(node:\d+\) \[DEP0060\].*\n.*\n/, ''), '');
    }
  });
});
