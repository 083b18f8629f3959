import { describe, expect, test } from 'vitest';
import { clientErrorResponse } from './app.ts';

describe('what a connection the HTTP parser gave up on is told', () => {
  test('no complete request in time (an idle preconnect): 408, which browsers answer by sending again', () => {
    expect(clientErrorResponse({ code: 'ERR_HTTP_REQUEST_TIMEOUT' })).toMatch(
      /^HTTP\/1\.1 408 Request Timeout\r\n/,
    );
  });
  test('a malformed request: 400', () => {
    expect(clientErrorResponse({ code: 'HPE_INVALID_METHOD' })).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(clientErrorResponse({})).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });
});
