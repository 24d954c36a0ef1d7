import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clearSessionCookie,
  sessionCookie,
  sessionCookieOptions,
} from '../../lib/sessions/session-cookie.js';
import type { SessionCookieOptions } from '../../lib/sessions/session-cookie.js';

const session = { cookieValue: 'ZXlKaGJHY2lPaUpJVXpVeE1pSjku+/w==', ttlSeconds: 3600 };

describe('session cookies', () => {
  const written: [string, () => string, string][] = [
    [
      'the defaults',
      () => sessionCookie(session),
      `Authorization=${session.cookieValue}; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax`,
    ],
    [
      'every option',
      () =>
        sessionCookie(session, {
          name: 'Sess',
          path: '/mail',
          domain: 'example.test',
          secure: false,
        }),
      `Sess=${session.cookieValue}; Max-Age=3600; Domain=example.test; Path=/mail; HttpOnly; SameSite=Lax`,
    ],
    [
      'a logout',
      () => clearSessionCookie({ domain: '.example.test' }),
      'Authorization=; Max-Age=0; Domain=.example.test; Path=/; HttpOnly; Secure; SameSite=Lax',
    ],
  ];
  for (const [name, make, expected] of written) {
    it(`writes ${name}`, () => {
      assert.equal(make(), expected);
    });
  }

  it('gives Express the same attributes', () => {
    assert.deepEqual(sessionCookieOptions(3600), {
      httpOnly: true,
      sameSite: 'lax',
      secure: true,
      path: '/',
      maxAge: 3_600_000,
    });
    assert.deepEqual(sessionCookieOptions(60, { domain: 'example.test', secure: false }), {
      httpOnly: true,
      sameSite: 'lax',
      secure: false,
      path: '/',
      maxAge: 60_000,
      domain: 'example.test',
    });
  });

  // Each bad field throws a TypeError naming it, from all three functions where the field applies.
  const refused: [string, SessionCookieOptions, RegExp][] = [
    ['an injected attribute in the path', { path: '/; Domain=evil.test' }, /: path must/],
    ['a path without a leading slash', { path: 'mail' }, /: path must/],
    ['an empty path', { path: '' }, /: path must/],
    ['a control character in the path', { path: '/mail\n' }, /: path must/],
    ['an injected attribute in the domain', { domain: 'example.test; Secure' }, /: domain must/],
    ['an empty domain', { domain: '' }, /: domain must/],
    ['a domain with a space', { domain: 'exa mple.test' }, /: domain must/],
    ['a name with a semicolon', { name: 'a;b' }, /: name must/],
    ['a name with an equals sign', { name: 'a=b' }, /: name must/],
    ['an empty name', { name: '' }, /: name must/],
    ['a name that is not a string', { name: 42 as unknown as string }, /: name must/],
    ['a secure flag that is not a boolean', { secure: 'no' as unknown as boolean }, /: secure/],
  ];
  for (const [name, options, field] of refused) {
    it(`refuses ${name}`, () => {
      for (const [caller, make] of [
        ['sessionCookie', () => sessionCookie(session, options)],
        ['sessionCookieOptions', () => sessionCookieOptions(3600, options)],
        ['clearSessionCookie', () => clearSessionCookie(options)],
      ] as const) {
        assert.throws(make, (err: unknown) => {
          assert.ok(err instanceof TypeError);
          assert.match(err.message, new RegExp(`^${caller}${field.source}`));
          return true;
        });
      }
    });
  }

  const badTtls: [string, unknown][] = [
    ['a fractional', 1.5],
    ['a negative', -60],
    ['a zero', 0],
    ['an infinite', Number.POSITIVE_INFINITY],
    ['a NaN', Number.NaN],
    ['a string as', '3600'],
  ];
  for (const [name, ttlSeconds] of badTtls) {
    it(`refuses ${name} max age`, () => {
      const ttl = ttlSeconds as number;
      assert.throws(() => sessionCookie({ cookieValue: 'x', ttlSeconds: ttl }), {
        name: 'TypeError',
        message: /^sessionCookie: ttlSeconds must be a whole number of seconds > 0$/,
      });
      assert.throws(() => sessionCookieOptions(ttl), {
        name: 'TypeError',
        message: /^sessionCookieOptions: ttlSeconds must/,
      });
    });
  }

  it('refuses a cookie value that would break the header, without quoting it', () => {
    const value = 'eyJ0b2tlbiI6InNlY3JldCJ9; Domain=evil.test';
    assert.throws(
      () => sessionCookie({ cookieValue: value, ttlSeconds: 60 }),
      (err: unknown) => {
        assert.ok(err instanceof TypeError);
        assert.match(err.message, /^sessionCookie: cookieValue must/);
        assert.ok(!err.message.includes('eyJ0b2tlbiI6'), err.message);
        return true;
      },
    );
  });
});
