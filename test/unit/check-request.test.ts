import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  escapesPrefix,
  pathProblem,
  targetPathOf,
  upstreamPathProblem,
} from '../../lib/chain/check-request.js';

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

describe('pathProblem', () => {
  const allowed = [
    '/',
    '/files/a.txt?x=1',
    '/a;b',
    "/a'b|c^d",
    '/a?b\\c',
    '//a/b',
    '/a@b/c',
    '/%23',
  ];
  for (const url of allowed) {
    it(`allows ${JSON.stringify(url)}`, () => {
      assert.equal(pathProblem(url), undefined);
    });
  }

  const refused = [
    ['*', 'not origin-form'],
    ['http://h/x', 'not origin-form'],
    ['/..#', 'fragment'],
    ['/%2e%2e#x', 'fragment'],
    ['/frag/#ment', 'fragment'],
    ['/a?x#y', 'fragment'],
    ['/..\u00a0', 'visible ASCII'],
    ['/..\t', 'visible ASCII'],
    ['/a b', 'visible ASCII'],
    ['/a\rb', 'visible ASCII'],
    ['/a\x7fb', 'visible ASCII'],
    ['/\u00e9', 'visible ASCII'],
    ['/a\\b', 'backslash'],
    ['/..\\admin', 'backslash'],
    ['//u@h/x', 'authority'],
    ['//u@..', 'authority'],
    ['//u:p@h:80/x?y', 'authority'],
    ['/../admin', 'not below'],
    ['/%2e%2e/admin', 'not below'],
  ] as const;
  for (const [url, reason] of refused) {
    it(`refuses ${JSON.stringify(url)} (${reason})`, () => {
      assert.match(pathProblem(url) ?? 'allowed', new RegExp(reason));
    });
  }
});

describe('upstreamPathProblem', () => {
  const cases = [
    ['/remote.php/files/a.txt?x=1', '/remote.php', undefined],
    ['/remote.php/', '/remote.php', undefined],
    ['/remote.php', '/remote.php', undefined],
    ['/remote.php?x=1', '/remote.php', undefined],
    ['/x', '', undefined],
    ['/remote.php/..', '/remote.php', 'not below the mount point'],
    ['/remote.php/%2e%2e/admin', '/remote.php', 'not below the mount point'],
    ['/remote.phpx/a', '/remote.php', 'not origin-form'],
    ['/admin', '/remote.php', 'not below the target path'],
    ['/..', '', 'not below the mount point'],
  ] as const;
  for (const [path, targetPath, reason] of cases) {
    it(`${path} under ${JSON.stringify(targetPath)}: ${reason ?? 'allowed'}`, () => {
      const problem = upstreamPathProblem(path, targetPath);
      if (reason === undefined) assert.equal(problem, undefined);
      else assert.match(problem ?? 'allowed', new RegExp(reason));
    });
  }
});

describe('targetPathOf', () => {
  const cases = [
    ['http://h:1', ''],
    ['http://h:1/remote.php', '/remote.php'],
    ['http://h:1/a%20b', '/a%20b'],
    ["http://h:1/a'b^c|d", '/a%27b%5Ec%7Cd'],
  ] as const;
  for (const [target, path] of cases) {
    it(`${target} -> ${JSON.stringify(path)}`, () => {
      assert.equal(targetPathOf(target), path);
    });
  }
});
