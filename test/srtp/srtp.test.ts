// SRTP sender backends (src/shared/srtp): byte-identical to werift 0.24.4's SrtpSession.encrypt for both
// profiles, native addon and pure JS, across the sequence wrap 65533→2 (ROC 0→1) with CSRCs and a header
// extension; werift decrypts the output and rejects a flipped bit; protectBatch equals per-viewer werift
// sessions, and so does protectInto (different packets into batch slots); sendBatch (sendmmsg) delivers each of
// K=10 packets to its own receiver on 127.0.0.1, and with UDP GSO every packet of a train as its own datagram, in
// order (runs, a shorter last, mixed destinations, > 64 a run, a refused train sent again plain).
// The whole file runs a second time in a child with DRAKE_SRTP=js, so the forced fallback is covered too.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { RtpHeader, RtpPacket, SrtpSession } from 'werift';
import {
  Destinations,
  HEADER_SLOT,
  MAX_TAG,
  PROFILE_ID,
  RUN_AUDIO,
  RUN_PARAM,
  RUN_PARAMS,
  RUN_VIDEO,
  SALT_LENGTH,
  jsBackend,
  gsoActive,
  gsoEnabled,
  lastSendError,
  SEND_COUNTER,
  sendBatch,
  sendCounters,
  socketFd,
  srtp,
  srtpBackend,
  srtpBackendInfo,
  type SrtpBackend,
  type SrtpContext,
  type SrtpProfile,
} from '../../src/shared/srtp/index.ts';
import { kdf } from '../../src/shared/srtp/jsBackend.ts';
import { loadAddon, nativeBackend } from '../../src/shared/srtp/nativeBackend.ts';

const FORCED_JS = process.env.DRAKE_SRTP === 'js';
const PROFILES: SrtpProfile[] = ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'];
const loaded = loadAddon();
const native: SrtpBackend | null = loaded.addon ? nativeBackend(loaded.addon) : null;

function bytes(seed: string, n: number): Buffer {
  return createHash('sha256').update(seed).digest().subarray(0, n);
}

function keysFor(profile: SrtpProfile, seed: string): { key: Buffer; salt: Buffer } {
  return { key: bytes(`key:${seed}`, 16), salt: bytes(`salt:${seed}`, SALT_LENGTH[profile]) };
}

function wSession(profile: SrtpProfile, k: { key: Buffer; salt: Buffer }): SrtpSession {
  return new SrtpSession({
    keys: { localMasterKey: k.key, localMasterSalt: k.salt, remoteMasterKey: k.key, remoteMasterSalt: k.salt },
    profile: PROFILE_ID[profile],
  });
}

interface Fields {
  seq: number;
  ts: number;
  ssrc: number;
  pt: number;
  marker: boolean;
}

/** A werift header with 2 CSRCs and one-byte extensions (id 1: 1 byte, id 3: 3 bytes → padded to 4n). */
function header(f: Fields): RtpHeader {
  return new RtpHeader({
    payloadType: f.pt,
    sequenceNumber: f.seq,
    timestamp: f.ts,
    ssrc: f.ssrc,
    marker: f.marker,
    csrc: [0x11223344, 0x55667788],
    extensionProfile: 0xbede,
    extensions: [
      { id: 1, payload: Buffer.from([0x7f]) },
      { id: 3, payload: Buffer.from([1, 2, 3]) },
    ],
  });
}

/** Six consecutive packets across the wrap, with payload lengths that are not multiples of 16. */
const SEQS = [65533, 65534, 65535, 0, 1, 2];
const PAYLOAD_LENGTHS = [1200, 1, 17, 333, 1187, 45];

function plain(i: number, f: Fields): { hdr: RtpHeader; payload: Buffer; packet: Buffer } {
  const payload = Buffer.alloc(PAYLOAD_LENGTHS[i]!);
  for (let j = 0; j < payload.length; j++) payload[j] = (j * 31 + i * 7) & 0xff;
  const hdr = header(f);
  return { hdr, payload, packet: new RtpPacket(hdr, payload).serialize() };
}

function identitySuite(label: string, backend: () => SrtpBackend): void {
  for (const profile of PROFILES) {
    test(`${label} ${profile}: protect() equals werift SrtpSession.encrypt over seq 65533→2, werift decrypts it`, () => {
      const b = backend();
      const k = keysFor(profile, profile);
      const ctx = b.createContext(profile, k.key, k.salt, 0xcafebabe);
      const inPlaceCtx = b.createContext(profile, k.key, k.salt);
      const ref = wSession(profile, k);
      const rx = wSession(profile, k);
      const out = Buffer.alloc(1500);
      for (let i = 0; i < SEQS.length; i++) {
        const f = { seq: SEQS[i]!, ts: 90000 * i + 12345, ssrc: 0xcafebabe, pt: 96, marker: i % 2 === 1 };
        const { hdr, payload, packet } = plain(i, f);
        const want = ref.encrypt(payload, hdr);
        const n = b.protect(ctx, packet, out);
        assert.equal(n, want.length, `length of packet ${i}`);
        assert.deepEqual(out.subarray(0, n), want, `bytes of packet ${i} (seq ${f.seq})`);
        // in place: the packet is a view at the start of `out`, which has room for the tag
        const buf = Buffer.alloc(packet.length + MAX_TAG);
        packet.copy(buf);
        assert.equal(b.protect(inPlaceCtx, buf.subarray(0, packet.length), buf), n);
        assert.deepEqual(buf.subarray(0, n), want, `in-place bytes of packet ${i}`);
        // werift decrypts our output back to the plaintext
        assert.deepEqual(rx.decrypt(Buffer.from(out.subarray(0, n))), packet, `decrypt of packet ${i}`);
      }
    });

    test(`${label} ${profile}: empty payloads and payloads past 2 KiB equal werift`, () => {
      const b = backend();
      const k = keysFor(profile, profile);
      const ctx = b.createContext(profile, k.key, k.salt);
      const ref = wSession(profile, k);
      const out = Buffer.alloc(10_000);
      [0, 15, 2047, 2048, 2049, 4111, 9000].forEach((len, i) => {
        const hdr = header({ seq: 100 + i, ts: 3000 * i, ssrc: 0x1234abcd, pt: 96, marker: false });
        const payload = Buffer.alloc(len);
        for (let j = 0; j < len; j++) payload[j] = (j * 13 + len) & 0xff;
        const want = ref.encrypt(payload, hdr);
        const n = b.protect(ctx, new RtpPacket(hdr, payload).serialize(), out);
        assert.deepEqual(out.subarray(0, n), want, `payload of ${len} bytes`);
      });
    });

    test(`${label} ${profile}: werift rejects a protected packet with one bit flipped`, () => {
      const b = backend();
      const k = keysFor(profile, `flip:${profile}`);
      const ctx = b.createContext(profile, k.key, k.salt);
      const { packet } = plain(0, { seq: 100, ts: 1, ssrc: 42, pt: 111, marker: false });
      const out = Buffer.alloc(1500);
      const n = b.protect(ctx, packet, out);
      for (const at of [1, 40, n - 100, n - 1]) {
        const bad = Buffer.from(out.subarray(0, n));
        bad[at]! ^= 0x04;
        assert.throws(() => wSession(profile, k).decrypt(bad), /authenticate/i, `flip at byte ${at}`);
      }
      assert.deepEqual(wSession(profile, k).decrypt(Buffer.from(out.subarray(0, n))), packet);
    });
  }

  test(`${label}: protectBatch() protects one source packet for K viewers (mixed profiles), each equal to its werift session`, () => {
    const b = backend();
    const K = 7;
    const viewers = Array.from({ length: K }, (_, v) => {
      const profile = PROFILES[v % 2]!;
      const k = keysFor(profile, `viewer${v}`);
      return {
        profile,
        ctx: b.createContext(profile, k.key, k.salt),
        ref: wSession(profile, k),
        rx: wSession(profile, k),
        ssrc: (0x10000000 + v * 0x01010101) >>> 0,
        seq0: 65533 - v, // viewers cross the wrap at different source packets
        pt: 96 + v,
      };
    });
    const ctxs: SrtpContext[] = viewers.map((v) => v.ctx);
    const stride = 1200 + 60 + MAX_TAG;
    const out = Buffer.alloc(K * stride);
    const headers = Buffer.alloc(K * HEADER_SLOT);
    const lengths = new Uint32Array(K);
    for (let i = 0; i < 8; i++) {
      const src = plain(i % SEQS.length, { seq: 7, ts: 3000 * i, ssrc: 0xdeadbeef, pt: 100, marker: i === 3 });
      for (let v = 0; v < K; v++) {
        const slot = v * HEADER_SLOT;
        headers[slot] = 0xff; // byte 0 comes from src, never from here
        headers[slot + 1] = (i === 3 ? 0x80 : 0) | viewers[v]!.pt;
        headers.writeUInt16BE((viewers[v]!.seq0 + i) & 0xffff, slot + 2);
        headers.writeUInt32BE((3000 * i + v) >>> 0, slot + 4);
        headers.writeUInt32BE(viewers[v]!.ssrc, slot + 8);
      }
      assert.equal(b.protectBatch(ctxs, src.packet, headers, out, stride, lengths), K);
      for (let v = 0; v < K; v++) {
        const w = viewers[v]!;
        const f = { seq: (w.seq0 + i) & 0xffff, ts: (3000 * i + v) >>> 0, ssrc: w.ssrc, pt: w.pt, marker: i === 3 };
        const want = w.ref.encrypt(src.payload, header(f));
        const got = out.subarray(v * stride, v * stride + lengths[v]!);
        assert.deepEqual(got, want, `viewer ${v} (${w.profile}) packet ${i} seq ${f.seq}`);
        assert.deepEqual(w.rx.decrypt(Buffer.from(got)), new RtpPacket(header(f), src.payload).serialize());
      }
    }
  });

  test(`${label}: protectInto() puts different packets of different viewers into batch slots, each equal to werift`, () => {
    const b = backend();
    const viewers = PROFILES.map((profile, v) => {
      const k = keysFor(profile, `into${v}`);
      return { profile, ctx: b.createContext(profile, k.key, k.salt), ref: wSession(profile, k), ssrc: 0x20000000 + v, pt: 96 + v };
    });
    const stride = 1200 + 60 + MAX_TAG;
    const out = Buffer.alloc(2 * SEQS.length * stride, 0xee);
    const lengths = new Uint32Array(2 * SEQS.length);
    const hdr = Buffer.alloc(HEADER_SLOT);
    let slot = 0;
    for (let i = 0; i < SEQS.length; i++) {
      for (const w of viewers) {
        // The source has another seq/ts/SSRC/PT: bytes 1..11 come from hdr, the rest from the source.
        const src = plain(i, { seq: 9, ts: 1, ssrc: 0xdeadbeef, pt: 100, marker: i === 2 });
        const f = { seq: SEQS[i]!, ts: 90000 * i, ssrc: w.ssrc, pt: w.pt, marker: i === 2 };
        hdr[0] = 0xff; // never used
        hdr[1] = (i === 2 ? 0x80 : 0) | w.pt;
        hdr.writeUInt16BE(f.seq, 2);
        hdr.writeUInt32BE(f.ts, 4);
        hdr.writeUInt32BE(f.ssrc, 8);
        const n = b.protectInto(w.ctx, src.packet, hdr, out, slot, stride, lengths);
        const want = w.ref.encrypt(src.payload, header(f));
        assert.equal(n, want.length);
        assert.equal(lengths[slot], n);
        assert.deepEqual(out.subarray(slot * stride, slot * stride + n), want, `${w.profile} packet ${i} in slot ${slot}`);
        assert.equal(out[slot * stride + n], 0xee, 'nothing written past the packet');
        slot++;
      }
    }
    const { packet } = plain(0, { seq: 1, ts: 1, ssrc: 1, pt: 96, marker: false });
    const ctx = viewers[0]!.ctx;
    assert.throws(() => b.protectInto(ctx, packet, hdr, out, lengths.length, stride, lengths), RangeError, 'slot beyond lengths');
    assert.throws(() => b.protectInto(ctx, packet, hdr, Buffer.alloc(stride), 1, stride, lengths), RangeError, 'slot beyond out');
    assert.throws(() => b.protectInto(ctx, packet, hdr, out, 0, packet.length + 9, lengths), RangeError, 'stride below packet + tag');
    assert.throws(() => b.protectInto(ctx, packet, Buffer.alloc(11), out, 0, stride, lengths), RangeError, 'short header');
    assert.throws(() => b.protectInto({} as SrtpContext, packet, hdr, out, 0, stride, lengths), TypeError);
  });

  test(`${label}: protectRun() protects a viewer's video then audio of a staged flush, each equal to werift, seqs carried on`, () => {
    const b = backend();
    // Staged: video, audio, video, video (marker), audio, a non-RTP packet, video; seqs start just before the wrap.
    const kindsOf = [0, 1, 0, 0, 1, 0, 0];
    const staged = kindsOf.map((kind, i) =>
      i === 5 ? Buffer.from([0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) : plain(i % SEQS.length, { seq: 500 + i, ts: 3000 * i, ssrc: 0xdeadbeef, pt: kind ? 111 : 102, marker: i === 3 }).packet,
    );
    const stage = Buffer.alloc(staged.reduce((n, p) => n + p.length, 0) + 7);
    const offsets = new Uint32Array(8);
    const lens = new Uint32Array(8);
    const kinds = new Uint8Array(8);
    let at = 3;
    staged.forEach((p, i) => {
      p.copy(stage, at);
      offsets[i] = at;
      lens[i] = p.length;
      kinds[i] = kindsOf[i]!;
      at += p.length;
    });
    const stride = 1200 + 60 + MAX_TAG;
    for (const profile of PROFILES) {
      const k = keysFor(profile, `run:${profile}`);
      const ctx = b.createContext(profile, k.key, k.salt);
      const ref = wSession(profile, k);
      const out = Buffer.alloc(12 * stride, 0xee);
      const lengths = new Uint32Array(12);
      const params = new Uint32Array(RUN_PARAMS);
      params[RUN_PARAM.VIDEO_SEQ] = 65534;
      params[RUN_PARAM.AUDIO_SEQ] = 7;
      params[RUN_PARAM.VIDEO_SSRC] = 0x10000001;
      params[RUN_PARAM.AUDIO_SSRC] = 0xf0000002;
      params[RUN_PARAM.VIDEO_PT] = 96;
      params[RUN_PARAM.AUDIO_PT] = 0xff; // only the low 7 bits count
      const n = b.protectRun(ctx, stage, offsets, lens, kinds, staged.length, RUN_VIDEO | RUN_AUDIO, params, out, 2, stride, lengths);
      // Video first (4 RTP packets; the non-RTP one is skipped and takes no seq), then audio (2).
      const order = [0, 2, 3, 6, 1, 4];
      assert.equal(n, order.length);
      let vseq = 65534;
      let aseq = 7;
      order.forEach((i, j) => {
        const video = kindsOf[i] === 0;
        const seq = video ? vseq : aseq;
        if (video) vseq = (vseq + 1) & 0xffff;
        else aseq++;
        const src = plain(i % SEQS.length, { seq: 0, ts: 0, ssrc: 0, pt: 0, marker: false });
        const f = { seq, ts: 3000 * i, ssrc: video ? 0x10000001 : 0xf0000002, pt: video ? 96 : 0x7f, marker: i === 3 };
        const want = ref.encrypt(src.payload, header(f));
        const slot = 2 + j;
        assert.equal(lengths[slot], want.length, `${profile} run packet ${j}`);
        assert.deepEqual(out.subarray(slot * stride, slot * stride + want.length), want, `${profile} run packet ${j} (staged ${i}, seq ${seq})`);
      });
      assert.equal(out[0], 0xee, 'nothing before the first slot');
      assert.equal(params[RUN_PARAM.VIDEO_SEQ], 2, 'video seq carried on across the wrap');
      assert.equal(params[RUN_PARAM.AUDIO_SEQ], 9);
      // Audio only: the video seq stays.
      assert.equal(b.protectRun(ctx, stage, offsets, lens, kinds, staged.length, RUN_AUDIO, params, out, 0, stride, lengths), 2);
      assert.equal(params[RUN_PARAM.VIDEO_SEQ], 2);
      assert.equal(params[RUN_PARAM.AUDIO_SEQ], 11);
      // Checked before anything is written: a run that does not fit, a packet beyond stage, a short stride, overlap.
      const before = Buffer.from(out);
      const seqs = Array.from(params);
      assert.throws(() => b.protectRun(ctx, stage, offsets, lens, kinds, staged.length, RUN_VIDEO | RUN_AUDIO, params, out, 7, stride, lengths), RangeError, 'run beyond lengths');
      assert.throws(() => b.protectRun(ctx, stage, offsets, lens, kinds, 9, RUN_VIDEO, params, out, 0, stride, lengths), RangeError, 'count beyond offsets');
      assert.throws(() => b.protectRun(ctx, stage.subarray(0, 100), offsets, lens, kinds, staged.length, RUN_VIDEO, params, out, 0, stride, lengths), RangeError, 'packet beyond stage');
      assert.throws(() => b.protectRun(ctx, stage, offsets, lens, kinds, staged.length, RUN_VIDEO, params, out, 0, 1000, lengths), RangeError, 'stride below packet + tag');
      assert.throws(() => b.protectRun(ctx, stage, offsets, lens, kinds, staged.length, RUN_VIDEO, new Uint32Array(5), out, 0, stride, lengths), RangeError, 'short params');
      assert.throws(() => b.protectRun(ctx, out, offsets, lens, kinds, staged.length, RUN_VIDEO, params, out, 0, stride, lengths), RangeError, 'stage overlaps out');
      assert.throws(() => b.protectRun({} as SrtpContext, stage, offsets, lens, kinds, staged.length, RUN_VIDEO, params, out, 0, stride, lengths), TypeError);
      assert.deepEqual(out, before, 'nothing written by a refused call');
      assert.deepEqual(Array.from(params), seqs, 'nor the seqs moved');
    }
  });

  test(`${label}: bad input throws instead of writing`, () => {
    const b = backend();
    const k = keysFor('AES_CM_128_HMAC_SHA1_80', 'bad');
    assert.throws(() => b.createContext('AES_CM_128_HMAC_SHA1_80', Buffer.alloc(15), k.salt), TypeError);
    assert.throws(() => b.createContext('AEAD_AES_128_GCM', k.key, k.salt), TypeError, 'GCM takes a 12-byte salt');
    assert.throws(() => b.createContext('NOPE' as SrtpProfile, k.key, k.salt), TypeError);
    const ctx = b.createContext('AES_CM_128_HMAC_SHA1_80', k.key, k.salt);
    const { packet } = plain(0, { seq: 1, ts: 1, ssrc: 1, pt: 96, marker: false });
    assert.throws(() => b.protect(ctx, packet, Buffer.alloc(packet.length + 9)), RangeError);
    assert.throws(() => b.protect(ctx, Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(64)), RangeError);
    assert.throws(() => b.protect(ctx, packet.subarray(0, 20), Buffer.alloc(64)), RangeError, 'truncated CSRC/extension');
    assert.throws(() => b.protect({} as SrtpContext, packet, Buffer.alloc(1500)), TypeError);
    const out = Buffer.alloc(2 * 1300);
    assert.throws(() => b.protectBatch([ctx, ctx], packet, Buffer.alloc(24), out, packet.length + 15, new Uint32Array(2)), RangeError);
    assert.throws(() => b.protectBatch([ctx, ctx], packet, Buffer.alloc(23), out, 1300, new Uint32Array(2)), RangeError);
    assert.throws(() => b.protectBatch([ctx, {} as SrtpContext], packet, Buffer.alloc(24), out, 1300, new Uint32Array(2)), TypeError);
    assert.throws(() => b.protectBatch([ctx, ctx], packet, Buffer.alloc(36), Buffer.alloc(3 * 1300), 1300, new Uint32Array(3), 3), RangeError, 'count > ctxs.length');
  });

  test(`${label}: protectBatch(count) protects only the first count viewers of a longer array`, () => {
    const b = backend();
    const k = keysFor('AEAD_AES_128_GCM', 'count');
    const mk = () => b.createContext('AEAD_AES_128_GCM', k.key, k.salt);
    const ctxs = [mk(), mk(), {} as SrtpContext]; // the stale third entry must not be touched
    const { packet } = plain(0, { seq: 7, ts: 90, ssrc: 5, pt: 96, marker: true });
    const headers = Buffer.alloc(36);
    for (let i = 0; i < 3; i++) packet.copy(headers, i * 12, 0, 12);
    const stride = packet.length + 16;
    const out = Buffer.alloc(3 * stride, 0xee);
    const lengths = new Uint32Array(3);
    assert.equal(b.protectBatch(ctxs, packet, headers, out, stride, lengths, 2), 2);
    const single = Buffer.alloc(stride);
    const n = b.protect(mk(), packet, single);
    assert.equal(lengths[0], n);
    assert.ok(out.subarray(0, n).equals(single.subarray(0, n)));
    assert.equal(lengths[2], 0);
    assert.ok(out.subarray(2 * stride).every((x) => x === 0xee), 'slot 2 untouched');
  });
}

test('KDF matches RFC 3711 B.3 test vectors', () => {
  const mk = Buffer.from('E1F97A0D3E018BE0D64FA32C06DE4139', 'hex');
  const ms = Buffer.from('0EC675AD498AFEEBB6960B3AABE6', 'hex');
  assert.equal(kdf(mk, ms, 0, 16).toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
  assert.equal(kdf(mk, ms, 2, 14).toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
  assert.equal(kdf(mk, ms, 1, 20).toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
});

test('the active backend follows DRAKE_SRTP', () => {
  assert.ok(loaded.addon, `the native addon must be built (npm install): ${loaded.error}`);
  assert.equal(srtpBackend, FORCED_JS ? 'js' : 'native');
  assert.equal(srtp.name, srtpBackend);
  assert.equal(srtpBackendInfo.backend, srtpBackend);
  if (!FORCED_JS) assert.match(srtpBackendInfo.openssl ?? '', /OpenSSL 3\./);
});

describe('js backend', () => identitySuite('js', () => jsBackend));
describe('native backend', () =>
  identitySuite('native', () => {
    assert.ok(native, `native addon not built: ${loaded.error}`);
    return native;
  }));
describe(`active backend (${srtpBackend})`, () => identitySuite(srtpBackend, () => srtp));

test('native and js agree on ROC across reordering and late retransmits around the wrap', () => {
  assert.ok(native, `native addon not built: ${loaded.error}`);
  for (const profile of PROFILES) {
    const k = keysFor(profile, `roc:${profile}`);
    const a = native.createContext(profile, k.key, k.salt);
    const j = jsBackend.createContext(profile, k.key, k.salt);
    const outA = Buffer.alloc(1500);
    const outJ = Buffer.alloc(1500);
    // in order to the wrap, a late pre-wrap packet, a jump, a packet "before" the first ROC 0 start, two SSRCs
    const seqs = [65000, 65400, 65535, 0, 65534, 1, 40000, 2, 30000, 100, 65535, 300];
    for (let i = 0; i < seqs.length; i++) {
      for (const ssrc of [1, 2]) {
        const { packet } = plain(i % SEQS.length, { seq: seqs[(i + ssrc) % seqs.length]!, ts: i, ssrc, pt: 96, marker: false });
        const n = native.protect(a, packet, outA);
        assert.equal(jsBackend.protect(j, packet, outJ), n);
        assert.deepEqual(outA.subarray(0, n), outJ.subarray(0, n), `${profile} step ${i} ssrc ${ssrc}`);
      }
    }
  }
});

// ------------------------------------------------------------------------------------------ sendmmsg

async function receivers(k: number): Promise<{ socks: dgram.Socket[]; got: Buffer[][] }> {
  const socks: dgram.Socket[] = [];
  const got: Buffer[][] = [];
  for (let i = 0; i < k; i++) {
    const s = dgram.createSocket('udp4');
    const box: Buffer[] = [];
    s.on('message', (m) => box.push(m));
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    socks.push(s);
    got.push(box);
  }
  return { socks, got };
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

/** K packets of different lengths and contents in one strided buffer. */
function batchOf(k: number, stride: number): { out: Buffer; lengths: Uint32Array } {
  const out = Buffer.alloc(k * stride);
  const lengths = new Uint32Array(k);
  for (let i = 0; i < k; i++) {
    lengths[i] = 200 + 37 * i;
    out.fill(i + 1, i * stride, i * stride + lengths[i]!);
    out.writeUInt32BE(0xabc00000 + i, i * stride);
  }
  return { out, lengths };
}

describe('sendBatch', () => {
  test(`sendBatch() (${srtpBackend}) delivers each of K=10 packets to exactly its own receiver on 127.0.0.1`, async () => {
    const K = 10;
    const stride = 1500;
    const { socks, got } = await receivers(K);
    const tx = dgram.createSocket('udp4');
    try {
      assert.throws(() => socketFd(tx), /bind/, 'fd is -1 before bind');
      tx.bind(0, '127.0.0.1');
      await once(tx, 'listening');
      assert.ok(socketFd(tx) > 2);
      const dests = new Destinations(K);
      socks.forEach((s, i) => dests.set(i, '127.0.0.1', s.address().port));
      const { out, lengths } = batchOf(K, stride);
      assert.equal(sendBatch(tx, out, stride, lengths, dests, K), K);
      assert.equal(lastSendError(), 0);
      await until(() => got.every((g) => g.length >= 1), 2000);
      await new Promise((r) => setTimeout(r, 50)); // anything extra would arrive by now
      for (let i = 0; i < K; i++) {
        assert.equal(got[i]!.length, 1, `receiver ${i} got ${got[i]!.length} packets`);
        assert.deepEqual(got[i]![0], out.subarray(i * stride, i * stride + lengths[i]!), `receiver ${i} got its own packet`);
      }
    } finally {
      tx.close();
      for (const s of socks) s.close();
    }
    assert.throws(() => socketFd(tx), /closed/);
  });

  test('socketFd() refuses a connect()ed socket (sendmmsg with per-packet addresses would fail with EISCONN)', async () => {
    const rx = dgram.createSocket('udp4');
    const tx = dgram.createSocket('udp4');
    try {
      rx.bind(0, '127.0.0.1');
      await once(rx, 'listening');
      tx.connect(rx.address().port, '127.0.0.1');
      await once(tx, 'connect');
      assert.throws(() => socketFd(tx), /connect/);
    } finally {
      tx.close();
      rx.close();
    }
  });

  test('native sendBatch skips a destination that fails on its own and still sends the rest', { skip: FORCED_JS }, async () => {
    const addon = loaded.addon;
    assert.ok(addon, `native addon not built: ${loaded.error}`);
    const K = 10;
    const stride = 1500;
    const { socks, got } = await receivers(K);
    const tx = dgram.createSocket('udp4');
    try {
      tx.bind(0, '127.0.0.1');
      await once(tx, 'listening');
      const addrs = Buffer.alloc(K * 28);
      socks.forEach((s, i) => addon.setAddress(addrs, i, '127.0.0.1', s.address().port));
      assert.equal(addon.setAddress(addrs, 4, '::1', 9), 6); // IPv6 destination on a udp4 socket: refused
      const { out, lengths } = batchOf(K, stride);
      assert.equal(addon.sendBatch(socketFd(tx), out, stride, lengths, addrs, K), K - 1);
      assert.notEqual(addon.lastSendError(), 0);
      await until(() => got.filter((g) => g.length >= 1).length >= K - 1, 2000);
      await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < K; i++) assert.equal(got[i]!.length, i === 4 ? 0 : 1, `receiver ${i}`);
      assert.throws(() => addon.sendBatch(socketFd(tx), out, stride, lengths, Buffer.alloc(K * 28), K), RangeError, 'empty address records');
      lengths[0] = stride + 1;
      assert.throws(() => addon.sendBatch(socketFd(tx), out, stride, lengths, addrs, K), RangeError, 'length past its slot');
    } finally {
      tx.close();
      for (const s of socks) s.close();
    }
  });
});

/** Receivers with room for a whole burst (the default 208 KiB buffer drops a burst of 150 × 1.2 KB on loopback). */
async function bigReceivers(k: number): Promise<{ socks: dgram.Socket[]; got: Buffer[][] }> {
  const socks: dgram.Socket[] = [];
  const got: Buffer[][] = [];
  for (let i = 0; i < k; i++) {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    const box: Buffer[] = [];
    s.on('message', (m) => box.push(m));
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    socks.push(s);
    got.push(box);
  }
  return { socks, got };
}

/** Packet i: its index in the first 4 bytes, then bytes that differ per packet. */
function trainBatch(lengths: number[], stride: number): { out: Buffer; lens: Uint32Array } {
  const out = Buffer.alloc(lengths.length * stride);
  const lens = Uint32Array.from(lengths);
  for (let i = 0; i < lengths.length; i++) {
    for (let j = 0; j < lengths[i]!; j++) out[i * stride + j] = (j * 13 + i * 101) & 0xff;
    out.writeUInt32BE(i, i * stride);
  }
  return { out, lens };
}

/** Sends packet i to receiver `to[i]` in one sendBatch; checks each receiver got exactly its packets, in order, byte-identical. */
async function sendAndCheck(tx: dgram.Socket, to: number[], lengths: number[], rx: { socks: dgram.Socket[]; got: Buffer[][] }, counters: Float64Array): Promise<void> {
  const stride = 1300;
  const { out, lens } = trainBatch(lengths, stride);
  const dests = new Destinations(to.length);
  to.forEach((r, i) => dests.set(i, '127.0.0.1', rx.socks[r]!.address().port));
  const before = rx.got.map((g) => g.length);
  assert.equal(sendBatch(tx, out, stride, lens, dests, to.length, counters), to.length, 'every packet counted as sent');
  const want = rx.socks.map((_, r) => to.flatMap((t, i) => (t === r ? [i] : [])));
  await until(() => rx.got.every((g, r) => g.length - before[r]! >= want[r]!.length), 3000);
  await new Promise((r) => setTimeout(r, 30)); // anything extra would arrive by now
  for (let r = 0; r < rx.socks.length; r++) {
    const got = rx.got[r]!.slice(before[r]);
    assert.deepEqual(got.map((g) => g.readUInt32BE(0)), want[r], `receiver ${r}: its packets, each its own datagram, in order`);
    got.forEach((g, k) => {
      const i = want[r]![k]!;
      assert.ok(g.equals(out.subarray(i * stride, i * stride + lens[i]!)), `receiver ${r}: packet ${i} byte-identical`);
    });
  }
}

describe('UDP GSO in sendBatch (native, Linux)', { skip: FORCED_JS || process.platform !== 'linux' }, () => {
  const addon = loaded.addon;
  const C = SEND_COUNTER;

  async function sender(): Promise<dgram.Socket> {
    const tx = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
    tx.bind(0, '127.0.0.1');
    await once(tx, 'listening');
    return tx;
  }

  test('gsoEnabled: on by default with the native backend; DRAKE_GSO=0 turns it off', () => {
    assert.equal(gsoEnabled, process.env.DRAKE_GSO !== '0');
    assert.equal(srtpBackendInfo.gso, gsoEnabled);
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const probe = "import('./src/shared/srtp/index.ts').then((m) => console.log(JSON.stringify([m.gsoEnabled, m.srtpBackendInfo.gso])))";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', probe], { env: { ...env, DRAKE_GSO: '0' }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [false, false]);
  });

  test('150 equal-size packets to one receiver (more than 64, a shorter last): one sendmmsg of 3 trains, every packet its own datagram', { skip: !gsoEnabled }, async () => {
    const rx = await bigReceivers(1);
    const tx = await sender();
    try {
      const n = 150;
      const counters = sendCounters();
      await sendAndCheck(tx, new Array(n).fill(0), Array.from({ length: n }, (_, i) => (i === n - 1 ? 301 : 1210)), rx, counters);
      assert.deepEqual([...counters], [1, 3, n, 3, n, 0], 'syscalls, messages, packets, trains, packets in trains, refusals');
      assert.equal(lastSendError(), 0);
    } finally {
      tx.close();
      for (const s of rx.socks) s.close();
    }
  });

  test('mixed destinations and sizes: runs per receiver become trains, a shorter packet ends one, order kept per receiver', { skip: !gsoEnabled }, async () => {
    const rx = await bigReceivers(3);
    const tx = await sender();
    try {
      // [receiver, packets, length]: a shorter packet ends a train (A 500), the next equal one starts a new message;
      // a longer one cannot join (A 1200 after A 1000); C's 70 are cut at 64 segments.
      const runs: Array<[number, number, number]> = [
        [0, 5, 1210], [1, 3, 1210], [0, 2, 1210], [0, 1, 500], [0, 1, 1210], [2, 1, 800], [1, 3, 800], [1, 1, 200], [0, 1, 1000], [0, 1, 1200], [2, 70, 1100],
      ];
      const to: number[] = [];
      const lengths: number[] = [];
      for (const [r, k, len] of runs) for (let j = 0; j < k; j++) (to.push(r), lengths.push(len));
      const counters = sendCounters();
      await sendAndCheck(tx, to, lengths, rx, counters);
      // Messages: A5 | B3 | A2+500 | A1210 | C800 | B3+200 | A1000 | A1200 | C64 | C6
      assert.equal(counters[C.SYSCALLS], 1);
      assert.equal(counters[C.MESSAGES], 10);
      assert.equal(counters[C.PACKETS], to.length);
      assert.equal(counters[C.GSO_MESSAGES], 6);
      assert.equal(counters[C.GSO_PACKETS], 5 + 3 + 3 + 4 + 64 + 6);
    } finally {
      tx.close();
      for (const s of rx.socks) s.close();
    }
  });

  test('more than 256 packets (several sendmmsg chunks) and trains capped at 64 KiB still arrive complete and in order', { skip: !gsoEnabled }, async () => {
    const rx = await bigReceivers(2);
    const tx = await sender();
    try {
      const to = Array.from({ length: 300 }, (_, i) => (i < 200 ? 0 : 1));
      const lengths = to.map((_, i) => (i < 200 ? 1216 : 1290)); // 1290 × 50 < 64 KiB < 1290 × 51: trains of 50
      const counters = sendCounters();
      await sendAndCheck(tx, to, lengths, rx, counters);
      assert.equal(counters[C.SYSCALLS], 2, '256 packets per sendmmsg');
      assert.equal(counters[C.GSO_PACKETS], 300);
      assert.ok(counters[C.MESSAGES]! >= 300 / 64, `${counters[C.MESSAGES]} messages`);
    } finally {
      tx.close();
      for (const s of rx.socks) s.close();
    }
  });

  test('a train the kernel refuses is sent again plain in the same call (nothing lost), and that socket sends plain from then on', { skip: !gsoEnabled }, async () => {
    assert.ok(addon);
    const rx = await bigReceivers(2);
    const tx = await sender();
    const other = await sender();
    try {
      addon.setNoChecksum(socketFd(tx), true); // the kernel answers a UDP_SEGMENT send with EINVAL now
      assert.equal(gsoActive(tx), true);
      const to = [0, 0, 0, 0, 1, 1, 1, 0, 0];
      const lengths = to.map(() => 1200);
      const counters = sendCounters();
      await sendAndCheck(tx, to, lengths, rx, counters);
      assert.equal(counters[C.GSO_REFUSED], 1);
      assert.equal(counters[C.GSO_PACKETS], 0);
      assert.equal(counters[C.PACKETS], to.length);
      assert.equal(gsoActive(tx), false, 'refused once: plain from now on');
      const again = sendCounters();
      await sendAndCheck(tx, to, lengths, rx, again);
      assert.deepEqual([...again], [1, to.length, to.length, 0, 0, 0], 'one sendmmsg, plain entries, no new refusal');
      // Another socket of the same thread still gets trains.
      const ok = sendCounters();
      await sendAndCheck(other, to, lengths, rx, ok);
      assert.equal(ok[C.GSO_MESSAGES], 3);
      assert.equal(gsoActive(other), true);
    } finally {
      tx.close();
      other.close();
      for (const s of rx.socks) s.close();
    }
  });

  test('a train to a destination that fails on its own is skipped without blaming GSO; the rest still go', { skip: !gsoEnabled }, async () => {
    assert.ok(addon);
    const rx = await bigReceivers(1);
    const tx = await sender();
    try {
      const stride = 1300;
      const { out, lens } = trainBatch(new Array(8).fill(1200), stride);
      const addrs = Buffer.alloc(8 * 28);
      for (let i = 0; i < 8; i++) addon.setAddress(addrs, i, i < 3 ? '::1' : '127.0.0.1', i < 3 ? 9 : rx.socks[0]!.address().port);
      const counters = sendCounters();
      assert.equal(addon.sendBatch(socketFd(tx), out, stride, lens, addrs, 8, true, counters), 5);
      assert.notEqual(addon.lastSendError(), 0);
      assert.equal(counters[C.GSO_REFUSED], 0, 'the plain retry failed too: the address, not GSO');
      await until(() => rx.got[0]!.length >= 5, 2000);
      assert.deepEqual(rx.got[0]!.map((g) => g.readUInt32BE(0)), [3, 4, 5, 6, 7]);
    } finally {
      tx.close();
      for (const s of rx.socks) s.close();
    }
  });
});

test('the whole file passes again with DRAKE_SRTP=js (forced fallback)', { skip: FORCED_JS, timeout: 60_000 }, () => {
  const file = fileURLToPath(import.meta.url);
  // NODE_TEST_CONTEXT (set by a parent `node --test`) would make the child report to us and exit 0: drop it.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-force-exit', '--test-reporter=spec', file], {
    env: { ...env, DRAKE_SRTP: 'js' },
    encoding: 'utf8',
    timeout: 55_000,
  });
  assert.equal(r.status, 0, `child run with DRAKE_SRTP=js failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /ℹ pass [1-9]/);
  assert.match(r.stdout, /ℹ fail 0/);
  assert.match(r.stdout, /sendBatch\(\) \(js\) delivers/);
});
