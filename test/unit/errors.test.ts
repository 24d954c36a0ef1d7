import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnauthorizedError } from 'express-jwt';
import jwt from 'jsonwebtoken';
import { upstreamError } from '../../lib/chain/proxy.js';
import { tokenError } from '../../lib/chain/verify-token.js';
import { AuthProxyError } from '../../lib/index.js';

describe('upstreamError', () => {
  const cases: [string | undefined, string][] = [
    ['ECONNREFUSED', 'ERR_UPSTREAM_UNREACHABLE'],
    ['ENOTFOUND', 'ERR_UPSTREAM_UNREACHABLE'],
    ['EHOSTUNREACH', 'ERR_UPSTREAM_UNREACHABLE'],
    ['ETIMEDOUT', 'ERR_UPSTREAM_TIMEOUT'],
    ['ECONNRESET', 'ERR_UPSTREAM_FAILED'],
    ['HPE_INVALID_CONSTANT', 'ERR_UPSTREAM_FAILED'],
    [undefined, 'ERR_UPSTREAM_FAILED'],
  ];
  for (const [code, expected] of cases) {
    it(`maps ${String(code)} to ${expected}`, () => {
      const err = Object.assign(new Error('boom'), { code });
      const mapped = upstreamError(err);
      assert.equal(mapped.code, expected);
      assert.equal(mapped.cause, err);
    });
  }

  it('keeps our own errors', () => {
    const ours = new AuthProxyError('ERR_UPSTREAM_TIMEOUT', 'slow');
    assert.equal(upstreamError(ours), ours);
  });
});

describe('tokenError', () => {
  const cases: [string, unknown, string][] = [
    [
      'credentials_required',
      new UnauthorizedError('credentials_required', { message: 'none' }),
      'ERR_TOKEN_MISSING',
    ],
    [
      'an expired token',
      new UnauthorizedError('invalid_token', new jwt.TokenExpiredError('jwt expired', new Date())),
      'ERR_TOKEN_EXPIRED',
    ],
    [
      'a token not yet valid',
      new UnauthorizedError('invalid_token', new jwt.NotBeforeError('jwt not active', new Date())),
      'ERR_TOKEN_NOT_YET_VALID',
    ],
    [
      'a bad signature',
      new UnauthorizedError('invalid_token', new jwt.JsonWebTokenError('invalid signature')),
      'ERR_TOKEN_INVALID',
    ],
    ['an unknown error', new Error('?'), 'ERR_INTERNAL'],
  ];
  for (const [name, err, expected] of cases) {
    it(`maps ${name} to ${expected}`, () => {
      assert.equal(tokenError(err).code, expected);
    });
  }

  it('never copies token text into its message', () => {
    const parseError = new SyntaxError('Unexpected token a\nFAKE: 200 in JSON at position 0');
    const err = new UnauthorizedError('invalid_token', parseError);
    assert.equal(tokenError(err).message, 'token rejected: unreadable token');
    const fixed = new UnauthorizedError(
      'invalid_token',
      new jwt.JsonWebTokenError('invalid signature'),
    );
    assert.equal(tokenError(fixed).message, 'token rejected: invalid signature');
  });
});
