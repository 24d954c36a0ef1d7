import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthProxyError, ERROR_CODES, statusForCode } from '../../lib/index.js';
import type { ErrorCode } from '../../lib/index.js';

const EXPECTED: [ErrorCode, number][] = [
  ['ERR_PATH_INVALID', 400],
  ['ERR_LENGTH_REQUIRED', 411],
  ['ERR_DESTINATION_INVALID', 400],
  ['ERR_IF_HEADER_INVALID', 400],
  ['ERR_BODY_HREF_INVALID', 400],
  ['ERR_BODY_TOO_LARGE', 413],
  ['ERR_WEBSOCKET_DISABLED', 403],
  ['ERR_TOKEN_MISSING', 401],
  ['ERR_COOKIE_DUPLICATE', 401],
  ['ERR_TOKEN_MALFORMED', 401],
  ['ERR_TOKEN_INVALID', 401],
  ['ERR_TOKEN_EXPIRED', 401],
  ['ERR_TOKEN_NOT_YET_VALID', 401],
  ['ERR_TOKEN_CLAIM_MISSING', 401],
  ['ERR_SESSION_NOT_FOUND', 401],
  ['ERR_SESSION_MALFORMED', 500],
  ['ERR_CREDENTIALS_INVALID', 500],
  ['ERR_CREDENTIALS_REJECTED', 401],
  ['ERR_STORE_UNAVAILABLE', 503],
  ['ERR_UPSTREAM_UNREACHABLE', 502],
  ['ERR_UPSTREAM_FAILED', 502],
  ['ERR_UPSTREAM_TIMEOUT', 504],
  ['ERR_INTERNAL', 500],
];

describe('statusForCode', () => {
  for (const [code, status] of EXPECTED) {
    it(`maps ${code} to ${status}`, () => {
      assert.equal(statusForCode(code), status);
      assert.equal(new AuthProxyError(code, 'x').status, status);
    });
  }

  it('covers every exported code', () => {
    assert.deepEqual(EXPECTED.map(([code]) => code).sort(), [...ERROR_CODES].sort());
  });

  it('fails closed on an unknown code', () => {
    assert.equal(statusForCode('ERR_NOPE' as ErrorCode), 500);
  });
});
