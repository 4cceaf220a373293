// The little STUN (RFC 5389) the shared viewer port reads and writes itself: the ICE attributes of a
// Binding request, its short-term-credential check, and the Binding success / error responses an ICE-lite
// agent sends (RFC 8445 §7.3). Every function is total on arbitrary bytes: null / false for malformed input.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const STUN_COOKIE = 0x2112a442;
export const ATTR_USERNAME = 0x0006;
export const ATTR_MESSAGE_INTEGRITY = 0x0008;
export const ATTR_ERROR_CODE = 0x0009;
export const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
export const ATTR_USE_CANDIDATE = 0x0025;
export const ATTR_FINGERPRINT = 0x8028;
export const ATTR_ICE_CONTROLLED = 0x8029;
export const ATTR_ICE_CONTROLLING = 0x802a;

export const BINDING_REQUEST = 0x0001;
export const BINDING_SUCCESS = 0x0101;
export const BINDING_ERROR = 0x0111;
/** The message class bits of the type field: 0 request, 0x0010 indication, 0x0100 success, 0x0110 error. */
export const CLASS_MASK = 0x0110;

const FINGERPRINT_XOR = 0x5354554e;

export function isStun(data: Buffer): boolean {
  return data.length >= 20 && (data[0]! & 0xc0) === 0 && data.readUInt32BE(4) === STUN_COOKIE;
}

/** Offset and length of the first attribute of `type` within the message, or null (also when malformed). */
export function findAttribute(data: Buffer, type: number): { at: number; len: number } | null {
  const end = Math.min(data.length, 20 + data.readUInt16BE(2));
  let at = 20;
  while (at + 4 <= end) {
    const t = data.readUInt16BE(at);
    const len = data.readUInt16BE(at + 2);
    if (at + 4 + len > end) return null;
    if (t === type) return { at, len };
    at += 4 + ((len + 3) & ~3);
  }
  return null;
}

export function hasAttribute(data: Buffer, type: number): boolean {
  return findAttribute(data, type) !== null;
}

/** The part of a Binding request's USERNAME before ':' — the receiver's (our) ufrag. */
export function localUfrag(data: Buffer): string | null {
  const a = findAttribute(data, ATTR_USERNAME);
  if (!a) return null;
  const name = data.toString('utf8', a.at + 4, a.at + 4 + a.len);
  const colon = name.indexOf(':');
  return colon > 0 ? name.slice(0, colon) : null;
}

/** RFC 5389 §15.4: HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, its length field covering that attribute. */
export function integrityOk(data: Buffer, password: string): boolean {
  if (!password) return false;
  const a = findAttribute(data, ATTR_MESSAGE_INTEGRITY);
  if (!a || a.len !== 20) return false;
  const head = Buffer.from(data.subarray(0, a.at));
  head.writeUInt16BE(a.at - 20 + 24, 2);
  return timingSafeEqual(createHmac('sha1', password).update(head).digest(), data.subarray(a.at + 4, a.at + 24));
}

/**
 * Binding success response to `request` (an IPv4 sender): XOR-MAPPED-ADDRESS, then MESSAGE-INTEGRITY with
 * `password` (the ICE password of the ufrag the request was for), then FINGERPRINT — the order RFC 5389 §15 fixes.
 */
export function bindingSuccess(request: Buffer, address: string, port: number, password: string): Buffer | null {
  const ip = ipv4(address);
  if (ip === null) return null;
  const out = Buffer.alloc(20 + 12 + 24 + 8);
  header(out, BINDING_SUCCESS, request);
  out.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, 20);
  out.writeUInt16BE(8, 22);
  out.writeUInt8(0, 24);
  out.writeUInt8(0x01, 25); // IPv4
  out.writeUInt16BE(port ^ (STUN_COOKIE >>> 16), 26);
  out.writeUInt32BE((ip ^ STUN_COOKIE) >>> 0, 28);
  sign(out, 32, password);
  return out;
}

/** Binding error response (e.g. 487 Role Conflict), signed like a success (RFC 8445 §7.3.1.1). */
export function bindingError(request: Buffer, code: number, reason: string, password: string): Buffer {
  const text = Buffer.from(reason, 'utf8');
  const padded = (text.length + 3) & ~3;
  const out = Buffer.alloc(20 + 8 + padded + 24 + 8);
  header(out, BINDING_ERROR, request);
  out.writeUInt16BE(ATTR_ERROR_CODE, 20);
  out.writeUInt16BE(4 + text.length, 22);
  out.writeUInt16BE(0, 24);
  out.writeUInt8(Math.floor(code / 100), 26);
  out.writeUInt8(code % 100, 27);
  text.copy(out, 28);
  sign(out, 28 + padded, password);
  return out;
}

function header(out: Buffer, type: number, request: Buffer): void {
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(out.length - 20, 2);
  out.writeUInt32BE(STUN_COOKIE, 4);
  request.copy(out, 8, 8, 20); // transaction id
}

/** Writes MESSAGE-INTEGRITY at `at` and FINGERPRINT after it; `out` ends right after FINGERPRINT. */
function sign(out: Buffer, at: number, password: string): void {
  // The length field covers what each attribute is computed over (RFC 5389 §15.4, §15.5).
  out.writeUInt16BE(at - 20 + 24, 2);
  const mac = createHmac('sha1', password).update(out.subarray(0, at)).digest();
  out.writeUInt16BE(ATTR_MESSAGE_INTEGRITY, at);
  out.writeUInt16BE(20, at + 2);
  mac.copy(out, at + 4);
  out.writeUInt16BE(at + 24 - 20 + 8, 2);
  const fp = at + 24;
  out.writeUInt16BE(ATTR_FINGERPRINT, fp);
  out.writeUInt16BE(4, fp + 2);
  out.writeUInt32BE((crc32(out.subarray(0, fp)) ^ FINGERPRINT_XOR) >>> 0, fp + 4);
}

function ipv4(address: string): number | null {
  const parts = address.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    const b = Number(p);
    if (!Number.isInteger(b) || b < 0 || b > 255 || p === '') return null;
    n = n * 256 + b;
  }
  return n;
}
