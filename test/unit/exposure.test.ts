import { describe, expect, it } from 'vitest';
import { exposureOf } from '../../src/net/exposure.js';

describe('exposureOf: who can reach a listener bound to an address', () => {
  it('loopback addresses are this machine only', () => {
    for (const h of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) expect(exposureOf(h), h).toBe('loopback');
  });
  it('every interface, or any other address, is a network', () => {
    for (const h of ['0.0.0.0', '::', '[::]', '10.0.0.5', '192.168.1.2', 'fe80::1', 'scopegate.internal']) expect(exposureOf(h), h).toBe('network');
  });
});
