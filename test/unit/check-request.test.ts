import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapesPrefix } from '../../lib/chain/check-request.js';

describe('escapesPrefix', () => {
  const allowed = [
    '/',
    '/files/a.txt',
    '/files/.hidden',
    '/files/a..b',
    '/files/a;b',
    '/files/...',
    '/100%25.txt',
    '/a%zz',
    '/search?q=../../etc',
    '/dir/file.tar.gz?x=..',
  ];
  for (const url of allowed) {
    it(`allows ${url}`, () => {
      assert.equal(escapesPrefix(url), false);
    });
  }

  const refused = [
    '/../admin',
    '/a/../../admin',
    '/./x',
    '/..',
    '/%2e%2e/admin',
    '/%2E%2E/admin',
    '/.%2e/admin',
    '/%252e%252e/admin',
    '/..%2fadmin',
    '/..\\admin',
    '/a\\..\\admin',
    '/%2e%2e/%zz/admin',
    '/%5c..%5cadmin',
    '/..;/admin',
    '/..;jsessionid=x/admin',
  ];
  for (const url of refused) {
    it(`refuses ${url}`, () => {
      assert.equal(escapesPrefix(url), true);
    });
  }
});
