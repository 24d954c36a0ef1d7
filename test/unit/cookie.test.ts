import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasConflictingCookies, withoutCookie } from '../../lib/chain/cookie-header.js';
import { tokenFromCookieValue } from '../../lib/chain/cookie-token.js';
import { AuthProxyError } from '../../lib/index.js';

const JWT = 'eyJhbGciOiJIUzUxMiJ9.eyJzaWQiOiJzIn0.c2lnbmF0dXJl';

describe('tokenFromCookieValue', () => {
  const accepted: [string, string][] = [
    ['standard base64', Buffer.from(JWT).toString('base64')],
    ['url-safe base64', Buffer.from(JWT).toString('base64url')],
    ['base64 of a quoted JWT', Buffer.from(`"${JWT}"`).toString('base64')],
    ['the raw JWT', JWT],
    ['a quoted raw JWT', `"${JWT}"`],
  ];
  for (const [name, value] of accepted) {
    it(`accepts ${name}`, () => {
      assert.equal(tokenFromCookieValue(value), JWT);
    });
  }

  it('accepts claims that start after JSON whitespace', () => {
    const token = `eyJhbGciOiJIUzUxMiJ9.${Buffer.from(' \n{"sid":"s"}').toString('base64url')}.c2ln`;
    assert.equal(tokenFromCookieValue(token), token);
  });

  const refused: [string, string][] = [
    ['foo:bar', 'foo:bar'],
    ['base64 of a non-JWT', Buffer.from('foo:bar').toString('base64')],
    ['text that is not base64', 'not base64!'],
    ['a JWT with an empty signature', 'eyJhbGciOiJub25lIn0.eyJzaWQiOiJzIn0.'],
    ['a JWT with two segments', 'eyJhbGciOiJIUzUxMiJ9.eyJzaWQiOiJzIn0'],
    ['an unbalanced quote', Buffer.from(`"${JWT}`).toString('base64')],
    ['an oversized value', `${JWT}${'a'.repeat(9000)}`],
    // jsonwebtoken would parse these claims twice (with typ JWT) and find an object.
    [
      'claims that are a JSON string',
      `eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.${Buffer.from(JSON.stringify('{"sid":"s"}')).toString('base64url')}.c2ln`,
    ],
    [
      'claims that are an array',
      `eyJhbGciOiJIUzUxMiJ9.${Buffer.from('[{"sid":"s"}]').toString('base64url')}.c2ln`,
    ],
    ['padding in the middle', 'ab=c'],
  ];
  for (const [name, value] of refused) {
    it(`refuses ${name} with ERR_TOKEN_MALFORMED`, () => {
      assert.throws(
        () => tokenFromCookieValue(value),
        (err) => err instanceof AuthProxyError && err.code === 'ERR_TOKEN_MALFORMED',
      );
    });
  }
});

describe('withoutCookie', () => {
  const cases: [string, string, string | undefined][] = [
    ['Authorization=abc', 'Authorization', undefined],
    [' Authorization=abc ', 'Authorization', undefined],
    ['Authorization =abc', 'Authorization', undefined],
    ['Authorization2=abc', 'Authorization', 'Authorization2=abc'],
    ['a=1; Authorization=abc; b=2', 'Authorization', 'a=1; b=2'],
    ['a=1;Authorization=abc', 'Authorization', 'a=1'],
    ['Authorization=x; Authorization=y; c=3', 'Authorization', 'c=3'],
    ['a=1; b=2', 'Authorization', 'a=1; b=2'],
    ['XAuthorization=1; Authorization2=2', 'Authorization', 'XAuthorization=1; Authorization2=2'],
    ['authorization=lower', 'Authorization', 'authorization=lower'],
    ['a=x=y; Authorization=abc==', 'Authorization', 'a=x=y'],
    [' Authorization = abc ; a=1', 'Authorization', 'a=1'],
    ['\tAuthorization\t=abc;\ta=1', 'Authorization', 'a=1'],
    // cookie-parser trims spaces and tabs only: these are other cookies, kept as they are.
    ['Authorization\xa0=abc; a=1\xa0', 'Authorization', 'Authorization\xa0=abc; a=1\xa0'],
    ['\xa0Authorization=abc', 'Authorization', '\xa0Authorization=abc'],
    ['\ufeffAuthorization=abc', 'Authorization', '\ufeffAuthorization=abc'],
  ];
  for (const [header, name, expected] of cases) {
    it(`turns "${header}" into ${JSON.stringify(expected)}`, () => {
      assert.equal(withoutCookie(header, name), expected);
    });
  }
});

describe('hasConflictingCookies', () => {
  const cases: [string, boolean][] = [
    ['Authorization=A', false],
    ['a=1; Authorization=A; b=2', false],
    ['Authorization=A; Authorization=A', false],
    ['Authorization=A;Authorization= A ', false],
    ['XAuthorization=1; Authorization2=2; Authorization=A', false],
    ['a=Authorization; Authorization=A', false],
    ['Authorization; Authorization=A', false],
    // Another cookie to cookie-parser, which trims spaces and tabs only.
    ['Authorization=A; Authorization\xa0=B', false],
    ['Authorization=A; Authorization=\tA\t', false],
    ['Authorization=A; Authorization=B', true],
    ['Authorization=A; theme=dark; Authorization=B', true],
    ['Authorization=A; Authorization =B', true],
    ['Authorization=A; Authorization="A"', true],
    ['Authorization=A; Authorization=', true],
    ['Authorization=A%3D; Authorization=A=', true],
  ];
  for (const [header, conflicting] of cases) {
    it(`${conflicting ? 'refuses' : 'allows'} "${header}"`, () => {
      assert.equal(hasConflictingCookies(header, 'Authorization'), conflicting);
    });
  }
});
