import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { pathProblem, upstreamPathProblem } from '../../lib/chain/check-request.js';

// http-proxy's own path construction (url.parse of the request target joined to the target's
// path), so that this table follows the installed version rather than our idea of it.
interface Outgoing {
  path: string;
}
const common = createRequire(import.meta.url)('http-proxy/lib/http-proxy/common.js') as {
  setupOutgoing(
    outgoing: object,
    options: { target: object },
    req: { url: string; method: string; headers: object },
  ): Outgoing;
};

function upstreamPath(targetPath: string, url: string): string {
  const target = { protocol: 'http:', host: 'h', hostname: 'h', port: '1', path: targetPath };
  return common.setupOutgoing({}, { target }, { url, method: 'GET', headers: {} }).path;
}

// When a target holds an '@', url.parse escapes these visible characters (`'` becomes %27):
// the same to the backends, so that alone is not refused.
const AUTO_ESCAPED = /%(7B|7D|7C|5C|5E|60|3C|3E|22|27)/gi;

// What a backend makes of a path: its non-empty segments, then the query.
function meaning(raw: string): string {
  const url = raw.replace(AUTO_ESCAPED, (_escape, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  return `${path.split('/').filter(Boolean).join('/')}${query < 0 ? '' : url.slice(query)}`;
}

const PIECES = [
  "'",
  '/',
  '.',
  '..',
  '%2e',
  '%2E%2e',
  '#',
  '?',
  '\\',
  '@',
  ':',
  ';',
  'a',
  'http:',
  ' ',
  '\u00a0',
  '\t',
  '%5c',
  '%2f',
  '%23',
];

function* targets(): Generator<string> {
  for (const start of ['/', '//']) {
    yield start;
    for (const a of PIECES) {
      yield start + a;
      for (const b of PIECES) {
        yield start + a + b;
        for (const c of PIECES) yield start + a + b + c;
      }
    }
  }
}

describe('the path http-proxy forwards', () => {
  for (const targetPath of ['/remote.php', '/']) {
    it(`is the path pathProblem accepted, under target path ${targetPath}`, () => {
      const base = targetPath.replace(/\/$/, '');
      let accepted = 0;
      let altered = 0;
      for (const url of targets()) {
        const outgoing = upstreamPath(targetPath, url);
        if (meaning(outgoing.slice(base.length)) !== meaning(url)) altered++;
        if (pathProblem(url) !== undefined) continue;
        accepted++;
        assert.equal(upstreamPathProblem(outgoing, base), undefined, JSON.stringify(url));
        assert.equal(meaning(outgoing.slice(base.length)), meaning(url), JSON.stringify(url));
      }
      // The table must exercise both sides: targets http-proxy alters, and accepted ones.
      assert.ok(altered > 1000, `${altered} altered`);
      assert.ok(accepted > 1000, `${accepted} accepted`);
    });
  }

  it('drops a fragment and turns a backslash into a slash (why pathProblem refuses them)', () => {
    assert.equal(upstreamPath('/remote.php', '/..#'), '/remote.php/..');
    assert.equal(upstreamPath('/remote.php', '/frag/#ment'), '/remote.php/frag/');
    assert.equal(upstreamPath('/remote.php', '/a\\..\\b'), '/remote.php/a/../b');
    assert.equal(upstreamPath('/remote.php', '//u@h/x'), '/remote.php/x');
    assert.equal(upstreamPath('/remote.php', '/..\u00a0'), '/remote.php/..');
  });
});
