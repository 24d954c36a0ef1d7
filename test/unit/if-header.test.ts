import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapIfResourceTags } from '../../lib/rewrite/if-header.js';

const map = (url: string) =>
  url.startsWith('/mail') ? { problem: 'is outside this mount' } : url.replace('/dav', '/up');

describe('mapIfResourceTags', () => {
  const table: [string, string][] = [
    ['(<urn:uuid:1>)', '(<urn:uuid:1>)'],
    ['(<opaquelocktoken:a-b>) (Not <DAV:no-lock>)', '(<opaquelocktoken:a-b>) (Not <DAV:no-lock>)'],
    ['</dav/x> (<urn:uuid:1>)', '</up/x> (<urn:uuid:1>)'],
    [
      '<http://h/dav/x> (<urn:uuid:1>) <http://h/dav/y> (["e)]"])',
      '<http://h/up/x> (<urn:uuid:1>) <http://h/up/y> (["e)]"])',
    ],
    ['<http://h/dav/x>(<urn:uuid:1>)(Not [W/"x"])', '<http://h/up/x>(<urn:uuid:1>)(Not [W/"x"])'],
    ['(<http://state/dav/)>)', '(<http://state/dav/)>)'],
    ['  </dav/x>\t(<a:b>)  ', '  </up/x>\t(<a:b>)  '],
  ];
  for (const [input, expected] of table) {
    it(`maps ${input}`, () => {
      assert.equal(mapIfResourceTags(input, map), expected);
    });
  }

  const refused: [string, string][] = [
    ['</mail/x> (<urn:uuid:1>)', 'is outside this mount'],
    ['</dav/x (<urn:uuid:1>)', 'has a malformed resource tag'],
    ['</dav/x (urn:uuid:1)', 'has an unterminated resource tag'],
    ['</dav/x> (<urn:uuid:1>', 'has an unterminated list'],
    ['</dav/x> (["e"', 'has an unterminated list'],
    ['(<a:b> (<c:d>))', 'has an unterminated list'],
    ['(<a:b>), (<c:d>)', 'does not follow the If grammar'],
    ['</dav/x>', 'has no condition list'],
    ['', 'has no condition list'],
    ['W/"etag"', 'does not follow the If grammar'],
  ];
  for (const [input, problem] of refused) {
    it(`refuses ${input || '(empty)'}`, () => {
      assert.deepEqual(mapIfResourceTags(input, map), { problem });
    });
  }
});
