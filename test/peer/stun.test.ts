// drake's STUN messages (src/actors/peer/stun.ts) against werift's STUN encoder and parser, an
// implementation of its own: what one signs the other must verify, and malformed bytes are refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { classes, Message, methods, parseMessage } from 'werift';
import { ATTR_ICE_CONTROLLING, ATTR_USE_CANDIDATE, bindingError, bindingSuccess, hasAttribute, integrityOk, isStun, localUfrag } from '../../src/actors/peer/stun.ts';

const PWD = 'aB3dE6gH9jK2mN5pQ8sT1v';

function request(useCandidate: boolean): Message {
  const m = new Message(methods.BINDING, classes.REQUEST);
  m.setAttribute('USERNAME', 'srv1:cli2').setAttribute('PRIORITY', 1_853_824_767).setAttribute('ICE-CONTROLLING', 42n);
  if (useCandidate) m.setAttribute('USE-CANDIDATE', null);
  return m.addMessageIntegrity(Buffer.from(PWD)).addFingerprint();
}

test('a werift-signed Binding request: ufrag, attributes and MESSAGE-INTEGRITY read right; the wrong password or a flipped bit fails', () => {
  const req = request(true).bytes;
  assert.ok(isStun(req));
  assert.equal(localUfrag(req), 'srv1');
  assert.ok(hasAttribute(req, ATTR_USE_CANDIDATE));
  assert.ok(hasAttribute(req, ATTR_ICE_CONTROLLING));
  assert.ok(!hasAttribute(request(false).bytes, ATTR_USE_CANDIDATE));
  assert.ok(integrityOk(req, PWD));
  assert.ok(!integrityOk(req, `${PWD}x`));
  assert.ok(!integrityOk(req, ''));
  const flipped = Buffer.from(req);
  flipped[30]! ^= 0x01;
  assert.ok(!integrityOk(flipped, PWD));
});

test('bindingSuccess() and bindingError() verify under werift (MESSAGE-INTEGRITY and FINGERPRINT) and carry what they should', () => {
  const req = request(false);
  for (const [ip, port] of [['127.0.0.1', 5000], ['203.0.113.250', 65535], ['0.0.0.0', 1]] as const) {
    const res = bindingSuccess(req.bytes, ip, port, PWD)!;
    const parsed = parseMessage(res, Buffer.from(PWD));
    assert.ok(parsed, `verifies: ${ip}:${port}`);
    assert.equal(parsed.messageClass, classes.RESPONSE);
    assert.equal(parsed.transactionIdHex, req.transactionIdHex);
    assert.deepEqual(parsed.getAttributeValue('XOR-MAPPED-ADDRESS'), [ip, port]);
    assert.equal(parseMessage(res, Buffer.from('other')), undefined);
  }
  assert.equal(bindingSuccess(req.bytes, '::1', 5000, PWD), null, 'IPv4 only (the shared port is udp4)');
  const err = parseMessage(bindingError(req.bytes, 487, 'Role Conflict', PWD), Buffer.from(PWD));
  assert.ok(err);
  assert.equal(err.messageClass, classes.ERROR);
  assert.deepEqual(err.getAttributeValue('ERROR-CODE'), [487, 'Role Conflict']);
});

test('random and truncated bytes never throw', () => {
  const req = request(true).bytes;
  for (let i = 0; i < 2000; i++) {
    const b = i % 2 ? randomBytes(i % 120) : Buffer.from(req.subarray(0, i % req.length));
    if (b.length >= 20 && i % 3 === 0) b.writeUInt32BE(0x2112a442, 4);
    if (!isStun(b)) continue;
    localUfrag(b);
    hasAttribute(b, ATTR_USE_CANDIDATE);
    integrityOk(b, PWD);
  }
});
