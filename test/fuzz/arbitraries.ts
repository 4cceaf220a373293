// fast-check generators of hostile input for drake's fuzz campaign (test/fuzz/fuzz.test.ts and
// `npm run bench -- --scenario fuzz`): SDP offers and trickle fragments, JSON bodies of the zod-validated
// routes, header sets, and datagrams for the shared WebRTC port and the RTP ingest sockets. Mutators start
// from real input (a werift offer, a route's valid body) so that most cases get past the first check.
import { createHmac } from 'node:crypto';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';

// ------------------------------------------------------------------------------------------ building blocks

/** Strings that tend to break parsers: control and format characters, surrogates, separators, huge runs. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\0', '\r\n', '\ud800', '\ufeff', '%00', '../../etc/passwd', '${id}', '{memfs}', '-i', ';', ':', '__proto__', 'constructor', 'null', '1e309', '-0'),
  fc.tuple(fc.constantFrom('a', '=', 'é', '\u202e', '9', ' ', '\t'), fc.integer({ min: 256, max: 70_000 })).map(([c, n]) => c.repeat(n)),
);

const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, 1.5, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, -1e-308, Number.MIN_VALUE),
);

/** Any JSON value, now and then nested beyond what recursive code (JSON.stringify, structuredClone) survives. */
export const nastyJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 2, arbitrary: nastyString },
  { weight: 2, arbitrary: nastyNumber },
  { weight: 1, arbitrary: fc.integer({ min: 2000, max: 20_000 }).map((d) => deepNest(d)) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'x'), fc.jsonValue({ maxDepth: 2 })) },
);

function deepNest(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

// ------------------------------------------------------------------------------------------ JSON bodies

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** One change to a JSON document, at a path chosen by `at` (a fraction through the document's nodes). */
type JsonEdit = { op: 'set'; at: number; value: unknown } | { op: 'delete'; at: number } | { op: 'wrap'; at: number } | { op: 'addKey'; at: number; key: string; value: unknown };

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), value: nastyJsonValue }),
  fc.record({ op: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ op: fc.constant('wrap' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ op: fc.constant('addKey' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), key: fc.oneof(nastyString, fc.constantFrom('__proto__', 'constructor', 'id', 'webrtc', 'api')), value: nastyJsonValue }),
);

/** The objects and arrays of a document, breadth first, down to 20 levels (a value set by an earlier edit may nest thousands deep). */
function containers(root: Json): Array<Json[] | { [k: string]: Json }> {
  const out: Array<Json[] | { [k: string]: Json }> = [];
  let level: Json[] = [root];
  for (let depth = 0; depth < 20 && level.length; depth++) {
    const next: Json[] = [];
    for (const v of level) {
      if (v === null || typeof v !== 'object') continue;
      out.push(v);
      next.push(...(Array.isArray(v) ? v : Object.values(v)));
    }
    level = next;
  }
  return out;
}

/** Applies the edits to a deep copy of `doc`; the result may be anything JSON can say. */
export function editJson(doc: unknown, edits: readonly JsonEdit[]): unknown {
  let root = structuredClone(doc) as Json;
  for (const e of edits) {
    const all = containers(root);
    if (all.length === 0) {
      root = (e.op === 'set' ? e.value : root) as Json;
      continue;
    }
    const node = all[Math.min(all.length - 1, Math.floor(e.at * all.length))]!;
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    const key = keys.length ? keys[Math.floor(e.at * 7919) % keys.length]! : undefined;
    const rec = node as Record<string | number, Json>;
    if (e.op === 'addKey' && !Array.isArray(node)) Object.defineProperty(node, e.key, { value: e.value as Json, enumerable: true, writable: true, configurable: true });
    else if (key === undefined) continue;
    else if (e.op === 'set') rec[key] = e.value as Json;
    else if (e.op === 'delete') Array.isArray(node) ? node.splice(key as number, 1) : delete rec[key];
    else if (e.op === 'wrap') rec[key] = [rec[key]!];
  }
  return root;
}

/** A request body for a JSON route: the valid body, a mutation of it, random JSON or text that is not JSON. */
export function jsonBody(valid: unknown): fc.Arbitrary<string> {
  const text = (v: unknown): string => {
    try {
      return JSON.stringify(v) ?? 'null';
    } catch {
      // Too deep for JSON.stringify: the same nesting written by hand.
      return '['.repeat(6000) + ']'.repeat(6000);
    }
  };
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(text(valid)) },
    { weight: 6, arbitrary: fc.array(jsonEdit, { minLength: 1, maxLength: 4 }).map((edits) => text(editJson(valid, edits))) },
    { weight: 2, arbitrary: nastyJsonValue.map(text) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.nat({ max: 200 }).map((n) => text(valid).slice(0, n)),
        fc.constantFrom('', '{', '[', '{"a":}', '\ufeff{}', '{"__proto__":{"polluted":1}}', '{"a":1,"a":2}', 'null', '1'.repeat(400), `"${'x'.repeat(5000)}"`),
        fc.integer({ min: 5000, max: 60_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
        fc.integer({ min: 5000, max: 60_000 }).map((d) => '{"a":'.repeat(d) + '1' + '}'.repeat(d)),
      ),
    },
  );
}

// ------------------------------------------------------------------------------------------ headers

export type HeaderList = Array<[string, string]>;

/**
 * Header lines for a raw HTTP request: Content-Type, If-Match and Authorization with garbage, huge,
 * non-ASCII or repeated values, plus odd names. Values never hold CR/LF (that would be a second request).
 */
export function headerList(valid: { contentType: string; authorization?: string; ifMatch?: string }): fc.Arbitrary<HeaderList> {
  const value = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.tuple(fc.constantFrom('a', 'é', ';', ',', ' ', '"'), fc.integer({ min: 1000, max: 12_000 })).map(([c, n]) => c.repeat(n)),
    fc.constantFrom('', ' ', ';', '*', 'W/"x"', '"', 'Bearer', 'Bearer ', 'Bearer a.b.c', 'Basic YWRtaW46YWRtaW4=', 'bearer  x y', 'application/json; charset=utf-16', 'APPLICATION/SDP', 'application/sdp;;;', 'multipart/form-data; boundary=x'),
  ).map((v) => v.replace(/[\r\n]/g, ' '));
  const known = fc.constantFrom('content-type', 'Content-Type', 'if-match', 'If-Match', 'authorization', 'AUTHORIZATION', 'content-length', 'transfer-encoding', 'expect', 'host');
  const name = fc.oneof(known, fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,40}$/), fc.constantFrom('x', 'a'.repeat(5000), 'é', ' bad', 'bad name'));
  const line = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(known, value) },
    { weight: 2, arbitrary: fc.tuple(name, value) },
    { weight: 2, arbitrary: fc.constantFrom<[string, string]>(['content-type', valid.contentType], ['authorization', valid.authorization ?? 'Bearer x'], ['if-match', valid.ifMatch ?? '"x"']) },
  );
  return fc.array(line, { maxLength: 8 });
}

// ------------------------------------------------------------------------------------------ SDP

/** One change to an SDP's lines. */
type SdpEdit =
  | { op: 'drop'; at: number }
  | { op: 'dup'; at: number }
  | { op: 'truncate'; at: number; keep: number }
  | { op: 'garble'; at: number; text: string }
  | { op: 'insert'; at: number; line: string }
  | { op: 'huge'; at: number; n: number }
  | { op: 'swap'; at: number; other: number };

const sdpLine: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'm=audio 9 UDP/TLS/RTP/SAVPF 0',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'm=video 0 RTP/AVP',
    'a=rtpmap:96 VP9/90000',
    'a=rtpmap:96 H264/90000/2',
    'a=rtpmap:127 H265/90000',
    'a=rtpmap:-1 H264/abc',
    'a=fmtp:96 profile-level-id=zzzzzz;packetization-mode=9',
    'a=fmtp:96 ' + ';'.repeat(300),
    'a=setup:active',
    'a=setup:holdconn',
    'a=fingerprint:sha-256 00',
    'a=fingerprint:md5 ' + 'AB:'.repeat(40),
    'a=ice-ufrag:',
    'a=ice-pwd:x',
    'a=ice-options:trickle ice2',
    'a=group:BUNDLE 0 1 2 3 4 5 6 7 8 9',
    'a=mid:',
    'a=sendonly',
    'a=inactive',
    'a=rtcp-mux-only',
    'a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=extmap:99999 x',
    'a=ssrc:4294967296 cname:x',
    'a=simulcast:recv 1;2',
    'a=rid:1 recv',
    'a=candidate:1 1 udp 2130706431 127.0.0.1 1 typ host',
    'a=candidate:1 1 tcp 1 ::1 0 typ srflx raddr x rport y',
    'a=candidate:x',
    'a=end-of-candidates',
    'c=IN IP6 ::',
    'b=AS:-5',
    't=0 0',
    'x=unknown',
    '',
  ),
  fc.tuple(fc.constantFrom('a=', 'm=', 'c=', 'b=', 'o=', 's='), fc.string({ maxLength: 80 })).map(([p, s]) => p + s),
);

const sdpEdit: fc.Arbitrary<SdpEdit> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('dup' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat(), keep: fc.nat({ max: 40 }) }),
  fc.record({ op: fc.constant('garble' as const), at: fc.nat(), text: fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 })) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), line: sdpLine }),
  fc.record({ op: fc.constant('huge' as const), at: fc.nat(), n: fc.integer({ min: 1000, max: 70_000 }) }),
  fc.record({ op: fc.constant('swap' as const), at: fc.nat(), other: fc.nat() }),
);

export function editSdp(sdp: string, edits: readonly SdpEdit[]): string {
  const lines = sdp.split('\r\n').filter((l) => l !== '');
  for (const e of edits) {
    if (lines.length === 0) lines.push('v=0');
    const i = e.at % lines.length;
    const line = lines[i]!;
    if (e.op === 'drop') lines.splice(i, 1);
    else if (e.op === 'dup') lines.splice(i, 0, line);
    else if (e.op === 'truncate') lines[i] = line.slice(0, e.keep);
    else if (e.op === 'insert') lines.splice(i, 0, e.line);
    else if (e.op === 'huge') lines[i] = `${line}${'9'.repeat(e.n)}`;
    else if (e.op === 'swap') {
      const j = e.other % lines.length;
      lines[i] = lines[j]!;
      lines[j] = line;
    } else {
      // Garble an attribute's value, keeping its name so the line is still routed to its parser.
      const colon = line.indexOf(':');
      lines[i] = colon > 0 ? `${line.slice(0, colon + 1)}${e.text}` : `${line.slice(0, 2)}${e.text}`;
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Offer bodies: werift's real offer mutated (most), codecs replaced, no media, or random text. */
export function sdpOffer(real: string): fc.Arbitrary<string> {
  const noMedia = real.split(/\r\nm=/)[0]! + '\r\n';
  const wrongCodec = real.replace(/H264\/90000/g, 'VP9/90000').replace(/opus\/48000\/2/gi, 'PCMU/8000');
  return fc.oneof(
    { weight: 8, arbitrary: fc.array(sdpEdit, { minLength: 1, maxLength: 6 }).map((e) => editSdp(real, e)) },
    { weight: 1, arbitrary: fc.constantFrom(noMedia, wrongCodec, real.replace(/\r\n/g, '\n'), real.replace(/a=setup:\w+/g, 'a=setup:passive')) },
    { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.constantFrom('v=0', 'v=0\r\n', 'v=1\r\nm=video')) },
  );
}

/** Trickle/ICE-restart sdpfrag bodies for PATCH, from the session's own valid fragments outward. */
export function sdpFrag(ufrag: string, pwd: string, candidates: readonly string[]): fc.Arbitrary<string> {
  const valid = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'm=audio 9 RTP/AVP 0', 'a=mid:0', ...candidates, 'a=end-of-candidates'].join('\r\n') + '\r\n';
  const restart = `a=ice-ufrag:fz${ufrag.slice(2)}\r\na=ice-pwd:${pwd}xxxxxx\r\na=mid:0\r\n${candidates.join('\r\n')}\r\n`;
  return fc.oneof(
    { weight: 6, arbitrary: fc.array(sdpEdit, { minLength: 1, maxLength: 5 }).map((e) => editSdp(valid, e)) },
    { weight: 2, arbitrary: fc.constantFrom(valid, restart, '', 'a=end-of-candidates\r\n', 'a=candidate:\r\n', 'a=ice-ufrag:\r\na=ice-pwd:\r\n') },
    { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 })) },
  );
}

// ------------------------------------------------------------------------------------------ datagrams

const STUN_COOKIE = 0x2112a442;

export interface StunCredentials {
  /** `<receiver's ufrag>:<sender's ufrag>`, as in a Binding request to the receiver. */
  username: string;
  /** The receiver's ICE password (the MESSAGE-INTEGRITY key). */
  password: string;
}

function stunAttr(type: number, value: Buffer): Buffer {
  const pad = (4 - (value.length % 4)) % 4;
  const b = Buffer.alloc(4 + value.length + pad);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

/** A Binding request with the given attributes, then MESSAGE-INTEGRITY and FINGERPRINT done right. */
export function stunRequest(txid: Buffer, attrs: Buffer[], password: string | null, method = 0x0001): Buffer {
  const body = Buffer.concat(attrs);
  const head = Buffer.alloc(20);
  head.writeUInt16BE(method, 0);
  head.writeUInt32BE(STUN_COOKIE, 4);
  txid.copy(head, 8, 0, 12);
  let msg = Buffer.concat([head, body]);
  if (password !== null) {
    msg.writeUInt16BE(msg.length - 20 + 24, 2);
    const mac = createHmac('sha1', password).update(msg).digest();
    msg = Buffer.concat([msg, stunAttr(0x0008, mac)]);
  }
  msg.writeUInt16BE(msg.length - 20 + 8, 2);
  const fp = Buffer.alloc(4);
  fp.writeUInt32BE((crc32(msg) ^ 0x5354554e) >>> 0, 0);
  return Buffer.concat([msg, stunAttr(0x8028, fp)]);
}

const randomAttr: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.oneof(fc.constantFrom(0x0006, 0x0008, 0x0024, 0x0025, 0x8029, 0x802a, 0x8028, 0x0020, 0x0001, 0x0009, 0x000d), fc.integer({ min: 0, max: 0xffff })),
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([t, v]) => stunAttr(t, Buffer.from(v)));

/** A byte-level change to a datagram: flip, overwrite, truncate, extend, lie about lengths. */
type ByteEdit = { op: 'flip'; at: number; mask: number } | { op: 'truncate'; keep: number } | { op: 'extend'; extra: Uint8Array } | { op: 'u16'; at: number; v: number };
const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), keep: fc.nat({ max: 64 }) }),
  fc.record({ op: fc.constant('extend' as const), extra: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ op: fc.constant('u16' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 0xffff }) }),
);

export function editBytes(b: Buffer, edits: readonly ByteEdit[]): Buffer {
  let out = Buffer.from(b);
  for (const e of edits) {
    if (e.op === 'truncate') out = out.subarray(0, Math.min(out.length, e.keep));
    else if (e.op === 'extend') out = Buffer.concat([out, e.extra]);
    else if (out.length === 0) continue;
    else if (e.op === 'flip') out[e.at % out.length]! ^= e.mask;
    else if (out.length >= 2) out.writeUInt16BE(e.v, e.at % (out.length - 1));
  }
  return out;
}

/** STUN aimed at a session: right credentials with odd attributes, wrong ufrag, bad integrity, then byte edits. */
export function stunDatagram(creds: StunCredentials | null): fc.Arbitrary<Buffer> {
  const username = fc.oneof(
    fc.constant(creds?.username ?? 'nobody:x'),
    fc.constant(`${creds?.username.split(':')[0] ?? 'nobody'}:`),
    fc.string({ maxLength: 40 }),
    fc.constant('x'.repeat(600)),
  );
  return fc
    .record({
      txid: fc.uint8Array({ minLength: 12, maxLength: 12 }),
      method: fc.oneof(fc.constant(0x0001), fc.integer({ min: 0, max: 0x3fff })),
      user: username,
      useCandidate: fc.boolean(),
      extra: fc.array(randomAttr, { maxLength: 4 }),
      priority: fc.integer({ min: 0, max: 0xffffffff }),
      signed: fc.constantFrom('right', 'wrong', 'none'),
      edits: fc.oneof({ weight: 3, arbitrary: fc.constant([] as ByteEdit[]) }, { weight: 2, arbitrary: fc.array(byteEdit, { minLength: 1, maxLength: 3 }) }),
    })
    .map((r) => {
      const prio = Buffer.alloc(4);
      prio.writeUInt32BE(r.priority >>> 0, 0);
      const attrs = [stunAttr(0x0006, Buffer.from(r.user)), stunAttr(0x0024, prio), stunAttr(0x802a, Buffer.alloc(8, 7)), ...r.extra];
      if (r.useCandidate) attrs.push(stunAttr(0x0025, Buffer.alloc(0)));
      const pwd = r.signed === 'none' ? null : r.signed === 'right' && creds ? creds.password : 'not-the-password-at-all';
      return editBytes(stunRequest(Buffer.from(r.txid), attrs, pwd, r.method), r.edits);
    });
}

/** DTLS records: a plausible header (content type, DTLS 1.0/1.2 version, epoch, sequence, length) before random bytes. */
export const dtlsDatagram: fc.Arbitrary<Buffer> = fc
  .record({
    type: fc.oneof(fc.constantFrom(20, 21, 22, 23), fc.integer({ min: 0, max: 255 })),
    version: fc.constantFrom(0xfefd, 0xfeff, 0x0303, 0x0000),
    epoch: fc.constantFrom(0, 1, 0xffff),
    seq: fc.nat(),
    lie: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 0xffff })),
    body: fc.uint8Array({ maxLength: 300 }),
    handshake: fc.boolean(),
    records: fc.integer({ min: 1, max: 3 }),
  })
  .map((r) => {
    const one = () => {
      let body = Buffer.from(r.body);
      if (r.handshake && body.length >= 12) body[0] = 1; // ClientHello
      const h = Buffer.alloc(13);
      h[0] = r.type;
      h.writeUInt16BE(r.version, 1);
      h.writeUInt16BE(r.epoch, 3);
      h.writeUIntBE(r.seq % 2 ** 48, 5, 6);
      h.writeUInt16BE(r.lie >= 0 ? r.lie : body.length, 11);
      return Buffer.concat([h, body]);
    };
    return Buffer.concat(Array.from({ length: r.records }, one));
  });

/** RTP: any header bits (CSRC count, extension with any length word, padding), payload of any size up to 1600. */
export const rtpDatagram: fc.Arbitrary<Buffer> = fc
  .record({
    padding: fc.boolean(),
    ext: fc.boolean(),
    cc: fc.integer({ min: 0, max: 15 }),
    marker: fc.boolean(),
    pt: fc.oneof(fc.constantFrom(96, 111, 0, 72, 77), fc.integer({ min: 0, max: 127 })),
    seq: fc.integer({ min: 0, max: 0xffff }),
    ts: fc.integer({ min: 0, max: 0xffffffff }),
    ssrc: fc.integer({ min: 0, max: 0xffffffff }),
    csrcBytes: fc.oneof(fc.constant(-1), fc.nat({ max: 60 })),
    extWords: fc.integer({ min: 0, max: 0xffff }),
    extBytes: fc.nat({ max: 40 }),
    nal: fc.oneof(fc.constantFrom(0x65, 0x67, 0x68, 0x7c, 0x78, 0x41, 0x00, 0x1f), fc.integer({ min: 0, max: 255 })),
    payload: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1100, max: 1600 }).map((n) => new Uint8Array(n).fill(0xab))),
    padCount: fc.integer({ min: 0, max: 255 }),
  })
  .map((r) => {
    const h = Buffer.alloc(12);
    h[0] = 0x80 | (r.padding ? 0x20 : 0) | (r.ext ? 0x10 : 0) | r.cc;
    h[1] = (r.marker ? 0x80 : 0) | r.pt;
    h.writeUInt16BE(r.seq, 2);
    h.writeUInt32BE(r.ts >>> 0, 4);
    h.writeUInt32BE(r.ssrc >>> 0, 8);
    // Often fewer CSRC or extension bytes than the header announces.
    const csrc = Buffer.alloc(r.csrcBytes < 0 ? 4 * r.cc : r.csrcBytes, 1);
    const ext = Buffer.alloc(r.ext ? 4 + r.extBytes : 0);
    if (r.ext) {
      ext.writeUInt16BE(0xbede, 0);
      ext.writeUInt16BE(r.extWords, 2);
    }
    const tail = r.padding ? Buffer.from([r.padCount]) : Buffer.alloc(0);
    return Buffer.concat([h, csrc, ext, Buffer.from([r.nal]), Buffer.from(r.payload), tail]);
  });

/** RTCP compound packets with random types, counts and length words (SR, RR, SDES, BYE, RTPFB, PSFB...). */
export const rtcpDatagram: fc.Arbitrary<Buffer> = fc
  .array(
    fc.record({
      count: fc.integer({ min: 0, max: 31 }),
      type: fc.oneof(fc.constantFrom(200, 201, 202, 203, 204, 205, 206, 207), fc.integer({ min: 192, max: 223 })),
      words: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 0xffff })),
      body: fc.uint8Array({ maxLength: 80 }),
    }),
    { minLength: 1, maxLength: 4 },
  )
  .map((parts) =>
    Buffer.concat(
      parts.map((p) => {
        const body = Buffer.from(p.body.subarray(0, p.body.length & ~3));
        const h = Buffer.alloc(4);
        h[0] = 0x80 | p.count;
        h[1] = p.type;
        h.writeUInt16BE(p.words >= 0 ? p.words : body.length / 4, 2);
        return Buffer.concat([h, body]);
      }),
    ),
  );

/** Anything at all: empty, one byte, 1500+ bytes, and bytes that look like the start of each protocol. */
export const junkDatagram: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom(Buffer.alloc(0), Buffer.from([0]), Buffer.from([0x80]), Buffer.from([0x16, 0xfe, 0xfd]), Buffer.alloc(1600, 0x80), Buffer.alloc(9000, 0x16)),
  fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
  fc.integer({ min: 1400, max: 8000 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })).map((u) => Buffer.from(u)),
);

/** The mix sent to a WebRTC port: STUN (with the session's credentials or not), DTLS, RTP, RTCP, junk, byte-edited too. */
export function webrtcDatagram(creds: StunCredentials | null): fc.Arbitrary<Buffer> {
  const base = fc.oneof(
    { weight: 4, arbitrary: stunDatagram(creds) },
    { weight: 3, arbitrary: dtlsDatagram },
    { weight: 2, arbitrary: rtpDatagram },
    { weight: 2, arbitrary: rtcpDatagram },
    { weight: 1, arbitrary: junkDatagram },
  );
  return fc.oneof({ weight: 3, arbitrary: base }, { weight: 1, arbitrary: fc.tuple(base, fc.array(byteEdit, { minLength: 1, maxLength: 3 })).map(([b, e]) => editBytes(b, e)) });
}

/** The mix sent to an RTP ingest socket: mostly RTP-shaped (so it gets past the version check), some RTCP and junk. */
export const ingestDatagram: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: rtpDatagram },
  { weight: 1, arbitrary: rtcpDatagram },
  { weight: 1, arbitrary: junkDatagram },
  { weight: 2, arbitrary: fc.tuple(rtpDatagram, fc.array(byteEdit, { minLength: 1, maxLength: 3 })).map(([b, e]) => editBytes(b, e)) },
);
