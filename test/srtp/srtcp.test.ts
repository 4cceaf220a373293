// SRTCP in both SRTP backends (src/shared/srtp): protectRtcp is byte-identical to werift 0.24.4's
// SrtcpSession.encrypt (per-SSRC index from 1, across the 2^31 wrap) and werift decrypts it; unprotectRtcp
// turns werift's SRTCP back into the plaintext (in place too), for both profiles and compound RTCP of several
// sizes; a flipped bit anywhere is an auth failure that leaves the replay window alone; a replayed index, an
// index a full window behind, E=0 packets, truncated/garbage input (fast-check) and argument errors.
// Keys: drake's contexts use DTLS's "local" keys to protect and the "remote" ones to unprotect, which differ,
// so a context built from the wrong side fails.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash, createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  GenericNack,
  PictureLossIndication,
  RtcpPayloadSpecificFeedback,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  SrtcpSession,
} from 'werift';
import {
  MAX_SRTCP_OVERHEAD,
  PROFILE_ID,
  SALT_LENGTH,
  SRTCP_ERROR,
  SRTCP_OVERHEAD,
  SRTCP_REPLAY_WINDOW,
  SRTCP_RX_SLOTS,
  TAG_LENGTH,
  jsBackend,
  protectRtcp,
  setRtcpIndex,
  srtp,
  unprotectRtcp,
  type SrtpBackend,
  type SrtpContext,
  type SrtpProfile,
} from '../../src/shared/srtp/index.ts';
import { kdf } from '../../src/shared/srtp/jsBackend.ts';
import { loadAddon, nativeBackend } from '../../src/shared/srtp/nativeBackend.ts';

const PROFILES: SrtpProfile[] = ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'];
const loaded = loadAddon();
const native: SrtpBackend | null = loaded.addon ? nativeBackend(loaded.addon) : null;
const ERRORS = new Set<number>(Object.values(SRTCP_ERROR));

function bytes(seed: string, n: number): Buffer {
  return createHash('sha256').update(seed).digest().subarray(0, n);
}

interface Keys {
  key: Buffer;
  salt: Buffer;
}

function keysFor(profile: SrtpProfile, seed: string): Keys {
  return { key: bytes(`key:${seed}`, 16), salt: bytes(`salt:${seed}`, SALT_LENGTH[profile]) };
}

/** A werift SRTCP session that encrypts with `local` and decrypts with `remote`. */
function wSession(profile: SrtpProfile, local: Keys, remote: Keys): SrtcpSession {
  return new SrtcpSession({
    keys: { localMasterKey: local.key, localMasterSalt: local.salt, remoteMasterKey: remote.key, remoteMasterSalt: remote.salt },
    profile: PROFILE_ID[profile],
  });
}

/** werift's sender-side index setter (Context.setIndex), not in its .d.ts for SrtcpSession. */
function wSetIndex(s: SrtcpSession, ssrc: number, index: number): void {
  (s as unknown as { localContext: { setIndex(ssrc: number, index: number): void } }).localContext.setIndex(ssrc, index);
}

// ------------------------------------------------------------------------------------------ RTCP fixtures

const MEDIA = 0xdeadbeef;

function rr(sender: number, reports: number): Buffer {
  return new RtcpRrPacket({
    ssrc: sender,
    reports: Array.from(
      { length: reports },
      (_, i) => new RtcpReceiverInfo({ ssrc: (MEDIA + i) >>> 0, fractionLost: i, packetsLost: 7 * i, highestSequence: 70_000 + i, jitter: 12, lsr: 5, dlsr: 6 }),
    ),
  }).serialize();
}

function pli(sender: number): Buffer {
  return new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: sender, mediaSsrc: MEDIA }) }).serialize();
}

function nack(sender: number, lost: number[]): Buffer {
  return new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: sender, mediaSourceSsrc: MEDIA, lost }) }).serialize();
}

function sr(sender: number): Buffer {
  return new RtcpSrPacket({
    ssrc: sender,
    senderInfo: new RtcpSenderInfo({ ntpTimestamp: 0x83aa7e80_12345678n, rtpTimestamp: 90_000, packetCount: 9, octetCount: 12_000 }),
    reports: [],
  }).serialize();
}

function sdes(sender: number): Buffer {
  return new RtcpSourceDescriptionPacket({
    chunks: [new SourceDescriptionChunk({ source: sender, items: [new SourceDescriptionItem({ type: 1, text: 'drake-test-cname' })] })],
  }).serialize();
}

/** Compound packets a viewer (sender SSRC `s`) sends, 8 .. ~800 bytes, payload not a multiple of 16. */
function compounds(s: number): Buffer[] {
  return [
    Buffer.concat([rr(s, 1), pli(s)]), // 44 B: the usual RR + PLI
    Buffer.concat([rr(s, 1), nack(s, [100, 101, 105, 130, 400])]),
    nack(s, [7]), // reduced-size (RFC 5506) NACK alone
    rr(s, 0), // 8 bytes: header + sender SSRC, no payload to encrypt beyond it
    Buffer.concat([sr(s), sdes(s)]),
    Buffer.concat([rr(s, 31), sdes(s), pli(s)]), // large
  ];
}

// ------------------------------------------------------------------------------------------ suites

function srtcpSuite(label: string, backend: () => SrtpBackend): void {
  for (const profile of PROFILES) {
    const P = `${label} ${profile}`;
    const local = keysFor(profile, `local:${profile}`);
    const remote = keysFor(profile, `remote:${profile}`);
    const over = SRTCP_OVERHEAD[profile];

    test(`${P}: protectRtcp equals werift SrtcpSession.encrypt (index per sender SSRC), werift decrypts it`, () => {
      const b = backend();
      const ctx = b.createContext(profile, local.key, local.salt);
      const inPlace = b.createContext(profile, local.key, local.salt);
      const ref = wSession(profile, local, remote);
      const peer = wSession(profile, remote, local); // the viewer: decrypts with our local keys
      const out = Buffer.alloc(1500);
      // two sender SSRCs interleaved unevenly: each has its own index
      const plan = [1, 1, 0x5eed, 1, 0x5eed, 0x5eed, 0x5eed, 1, 1, 0x5eed, 1, 1];
      plan.forEach((s, i) => {
        const pkt = compounds(s)[i % 6]!;
        const want = ref.encrypt(pkt);
        const n = b.protectRtcp(ctx, pkt, out);
        assert.equal(n, pkt.length + over, `length of packet ${i}`);
        assert.deepEqual(out.subarray(0, n), want, `bytes of packet ${i} (ssrc ${s})`);
        const buf = Buffer.alloc(pkt.length + MAX_SRTCP_OVERHEAD, 0xaa);
        pkt.copy(buf);
        assert.equal(b.protectRtcp(inPlace, buf.subarray(0, pkt.length), buf), n);
        assert.deepEqual(buf.subarray(0, n), want, `in-place bytes of packet ${i}`);
        assert.deepEqual(peer.decrypt(Buffer.from(out.subarray(0, n))), pkt, `werift decrypt of packet ${i}`);
      });
    });

    test(`${P}: unprotectRtcp turns werift's SRTCP back into the RTCP (separate out and in place)`, () => {
      const b = backend();
      const rx = b.createContext(profile, remote.key, remote.salt);
      const rxInPlace = b.createContext(profile, remote.key, remote.salt);
      const peer = wSession(profile, remote, local); // the viewer encrypts with its local = our remote keys
      const out = Buffer.alloc(1500, 0x55);
      for (const s of [0x0badcafe, 1]) {
        for (const pkt of compounds(s)) {
          const enc = peer.encrypt(pkt);
          const n = b.unprotectRtcp(rx, enc, out);
          assert.equal(n, pkt.length, `plaintext length (${pkt.length}-byte RTCP)`);
          assert.deepEqual(out.subarray(0, n), pkt);
          const same = Buffer.from(enc);
          assert.equal(b.unprotectRtcp(rxInPlace, same, same), pkt.length);
          assert.deepEqual(same.subarray(0, pkt.length), pkt, 'in place');
        }
      }
      // a context from the wrong side's keys authenticates nothing
      const wrong = b.createContext(profile, local.key, local.salt);
      assert.equal(b.unprotectRtcp(wrong, peer.encrypt(compounds(9)[0]!), out), SRTCP_ERROR.AUTH_FAILED);
    });

    test(`${P}: one context protects and unprotects alternately (the cipher switches direction per packet)`, () => {
      const b = backend();
      const k = keysFor(profile, `both:${profile}`);
      const ctx = b.createContext(profile, k.key, k.salt);
      const ref = wSession(profile, k, k);
      const other = wSession(profile, k, k);
      const out = Buffer.alloc(1500);
      const dec = Buffer.alloc(1500);
      compounds(77).forEach((pkt, i) => {
        const n = b.protectRtcp(ctx, pkt, out);
        assert.deepEqual(out.subarray(0, n), ref.encrypt(pkt), `protect ${i}`);
        const theirs = compounds(78)[5 - i]!;
        assert.equal(b.unprotectRtcp(ctx, other.encrypt(theirs), dec), theirs.length, `unprotect ${i} after protect`);
        assert.deepEqual(dec.subarray(0, theirs.length), theirs);
      });
    });

    test(`${P}: any flipped bit fails authentication and does not move the replay window`, () => {
      const b = backend();
      const peer = wSession(profile, remote, local);
      const out = Buffer.alloc(1500);
      const pkts = Array.from({ length: 6 }, (_, i) => peer.encrypt(compounds(3)[i]!));
      const rx = b.createContext(profile, remote.key, remote.salt);
      assert.equal(b.unprotectRtcp(rx, pkts[0]!, out), compounds(3)[0]!.length); // index 1 accepted
      const victim = pkts[5]!; // index 6
      for (let at = 0; at < victim.length; at++) {
        for (const bit of [0x01, 0x80]) {
          const bad = Buffer.from(victim);
          bad[at]! ^= bit;
          // a fresh context (no replay state at all) and the one with history must both refuse it
          const fresh = b.createContext(profile, remote.key, remote.salt);
          const r1 = b.unprotectRtcp(fresh, bad, out);
          const r2 = b.unprotectRtcp(rx, bad, out);
          // bits 0–1 of byte 0 are the version: those are malformed before any crypto
          const want = at === 0 && bit === 0x80 ? SRTCP_ERROR.MALFORMED : SRTCP_ERROR.AUTH_FAILED;
          assert.equal(r1, want, `flip 0x${bit.toString(16)} at byte ${at}/${victim.length} (fresh context)`);
          assert.equal(r2, want, `flip 0x${bit.toString(16)} at byte ${at} (context with history)`);
        }
      }
      // a forged packet claiming a far-ahead index must not have advanced the window: 2..6 still go through
      const far = Buffer.from(victim);
      const idxAt = profile === 'AEAD_AES_128_GCM' ? far.length - 4 : far.length - TAG_LENGTH[profile] - 4;
      far.writeUInt32BE((0x80000000 | 100_000) >>> 0, idxAt);
      assert.equal(b.unprotectRtcp(rx, far, out), SRTCP_ERROR.AUTH_FAILED);
      for (let i = 1; i < 6; i++) assert.equal(b.unprotectRtcp(rx, pkts[i]!, out), compounds(3)[i]!.length, `genuine index ${i + 1}`);
    });

    test(`${P}: replay window: a repeat is REPLAYED, reordering within ${SRTCP_REPLAY_WINDOW} passes, further back is TOO_OLD`, () => {
      const b = backend();
      const peer = wSession(profile, remote, local);
      const rx = b.createContext(profile, remote.key, remote.salt);
      const out = Buffer.alloc(1500);
      const pkt = Buffer.concat([rr(5, 1), pli(5)]);
      const byIndex: Buffer[] = [Buffer.alloc(0)]; // byIndex[i] = the packet werift sent with SRTCP index i (from 1)
      for (let i = 1; i <= 400; i++) byIndex.push(peer.encrypt(pkt));
      const ok = (i: number): void => assert.equal(b.unprotectRtcp(rx, byIndex[i]!, out), pkt.length, `index ${i} accepted`);
      const code = (i: number, c: number, why: string): void => assert.equal(b.unprotectRtcp(rx, byIndex[i]!, out), c, `index ${i}: ${why}`);

      ok(1);
      code(1, SRTCP_ERROR.REPLAYED, 'same packet twice');
      ok(3);
      ok(2); // late, inside the window
      code(2, SRTCP_ERROR.REPLAYED, 'late packet twice');
      code(3, SRTCP_ERROR.REPLAYED, 'highest again');
      ok(200); // jump ahead by more than the window
      code(200 - SRTCP_REPLAY_WINDOW, SRTCP_ERROR.TOO_OLD, 'exactly one window behind');
      code(3, SRTCP_ERROR.TOO_OLD, 'far behind');
      ok(200 - SRTCP_REPLAY_WINDOW + 1); // the oldest index still inside
      code(200 - SRTCP_REPLAY_WINDOW + 1, SRTCP_ERROR.REPLAYED, 'oldest inside, twice');
      ok(100);
      ok(230); // moves the window by 30: the slots of 73..102 (100 among them) now stand for 201..230
      ok(100 + SRTCP_REPLAY_WINDOW); // late; shares its bitmap slot with 100, which must have been cleared
      ok(150);
      for (let i = 231; i <= 260; i += 7) ok(i); // small steps forward (highest 259) keep the bits still inside
      code(150, SRTCP_ERROR.REPLAYED, '150 was seen and is still inside');
      ok(259 - SRTCP_REPLAY_WINDOW + 1); // never seen, oldest inside
      code(259 - SRTCP_REPLAY_WINDOW, SRTCP_ERROR.TOO_OLD, 'one window behind 259');
      ok(259 + SRTCP_REPLAY_WINDOW - 1); // the largest jump that keeps the previous highest inside
      code(259, SRTCP_ERROR.REPLAYED, 'the previous highest, now the oldest inside');
      code(258, SRTCP_ERROR.TOO_OLD, 'one window behind 386');
      // the window follows each sender SSRC: the same indexes from another sender are new
      const other = wSession(profile, remote, local);
      const otherPkt = Buffer.concat([rr(6, 1), pli(6)]);
      assert.equal(b.unprotectRtcp(rx, other.encrypt(otherPkt), out), otherPkt.length, 'index 1 of another SSRC');
    });

    test(`${P}: SRTCP index wrap 2^31−1 → 0: protect equals werift, unprotect accepts it and still detects replays`, () => {
      const b = backend();
      const tx = b.createContext(profile, local.key, local.salt);
      const rx = b.createContext(profile, local.key, local.salt);
      const ref = wSession(profile, local, local);
      const s = 0x00c0ffee;
      wSetIndex(ref, s, 0x7ffffff0);
      b.setRtcpIndex(tx, s, 0x7ffffff0);
      const out = Buffer.alloc(1500);
      const dec = Buffer.alloc(1500);
      const sent: Buffer[] = [];
      const pkt = Buffer.concat([rr(s, 1), nack(s, [1, 2, 3])]);
      for (let i = 0; i < 20; i++) {
        const want = ref.encrypt(pkt);
        const n = b.protectRtcp(tx, pkt, out);
        assert.deepEqual(out.subarray(0, n), want, `packet ${i}, index ${(0x7ffffff1 + i) % 0x80000000}`);
        const idx = profile === 'AEAD_AES_128_GCM' ? want.readUInt32BE(want.length - 4) : want.readUInt32BE(pkt.length);
        assert.equal(idx, (0x80000000 | ((0x7ffffff1 + i) % 0x80000000)) >>> 0, 'E flag and index in the trailer');
        sent.push(Buffer.from(want));
      }
      for (let i = 0; i < 20; i++) assert.equal(b.unprotectRtcp(rx, sent[i]!, dec), pkt.length, `unprotect across the wrap, packet ${i}`);
      assert.equal(b.unprotectRtcp(rx, sent[14]!, dec), SRTCP_ERROR.REPLAYED, 'index 0x7fffffff again after the wrap');
      assert.equal(b.unprotectRtcp(rx, sent[15]!, dec), SRTCP_ERROR.REPLAYED, 'index 0 again');
      assert.throws(() => b.setRtcpIndex(tx, s, 0x80000000), RangeError);
    });

    test(`${P}: E=0 (authenticated, unencrypted) SRTCP is accepted as is; with E set it fails`, () => {
      const b = backend();
      const pkt = Buffer.concat([rr(11, 1), pli(11)]);
      const plainSrtcp = e0Packet(profile, remote, pkt, 42);
      // werift (the reference) takes the hand-made packet as well
      assert.deepEqual(wSession(profile, local, remote).decrypt(Buffer.from(plainSrtcp)), pkt);
      const rx = b.createContext(profile, remote.key, remote.salt);
      const out = Buffer.alloc(1500);
      assert.equal(b.unprotectRtcp(rx, plainSrtcp, out), pkt.length);
      assert.deepEqual(out.subarray(0, pkt.length), pkt);
      assert.equal(b.unprotectRtcp(rx, plainSrtcp, out), SRTCP_ERROR.REPLAYED);
      const same = Buffer.from(plainSrtcp);
      assert.equal(b.unprotectRtcp(b.createContext(profile, remote.key, remote.salt), same, same), pkt.length, 'in place');
      assert.deepEqual(same.subarray(0, pkt.length), pkt);
      const flagged = Buffer.from(plainSrtcp);
      const at = profile === 'AEAD_AES_128_GCM' ? flagged.length - 4 : pkt.length;
      flagged[at]! |= 0x80;
      assert.equal(b.unprotectRtcp(b.createContext(profile, remote.key, remote.salt), flagged, out), SRTCP_ERROR.AUTH_FAILED);
    });

    test(`${P}: short, non-v2 and out-too-small inputs get their codes; bad arguments throw`, () => {
      const b = backend();
      const rx = b.createContext(profile, remote.key, remote.salt);
      const peer = wSession(profile, remote, local);
      const pkt = Buffer.concat([rr(5, 1), pli(5)]);
      const enc = peer.encrypt(pkt);
      const out = Buffer.alloc(1500);
      const min = 8 + over;
      for (let len = 0; len < min; len++) {
        assert.equal(b.unprotectRtcp(rx, enc.subarray(0, len), out), SRTCP_ERROR.MALFORMED, `${len} bytes`);
      }
      assert.equal(b.unprotectRtcp(rx, enc.subarray(0, min), out), SRTCP_ERROR.AUTH_FAILED, 'long enough, tag cut off');
      for (const v of [0x00, 0x40, 0xc0]) {
        const bad = Buffer.from(enc);
        bad[0] = (bad[0]! & 0x3f) | v;
        assert.equal(b.unprotectRtcp(rx, bad, out), SRTCP_ERROR.MALFORMED, `version ${v >> 6}`);
      }
      assert.equal(b.unprotectRtcp(rx, enc, Buffer.alloc(pkt.length - 1)), SRTCP_ERROR.OUT_TOO_SMALL);
      assert.equal(b.unprotectRtcp(rx, enc, Buffer.alloc(pkt.length)), pkt.length, 'out exactly the plaintext length');

      const tx = b.createContext(profile, local.key, local.salt);
      assert.throws(() => b.protectRtcp(tx, pkt.subarray(0, 7), out), RangeError);
      assert.throws(() => b.protectRtcp(tx, Buffer.from([0x40, 201, 0, 1, 0, 0, 0, 1]), out), RangeError, 'version 1');
      assert.throws(() => b.protectRtcp(tx, pkt, Buffer.alloc(pkt.length + over - 1)), RangeError);
      assert.throws(() => b.protectRtcp({} as SrtpContext, pkt, out), TypeError);
      assert.throws(() => b.unprotectRtcp({} as SrtpContext, enc, out), TypeError);
      assert.throws(() => b.unprotectRtcp(rx, 'x' as unknown as Buffer, out), TypeError);
      assert.throws(() => b.unprotectRtcp(rx, enc, 'x' as unknown as Buffer), TypeError);
    });

    test(`${P}: random bytes never throw and never return a length out of range; nothing written past out (fast-check)`, () => {
      const b = backend();
      const rx = b.createContext(profile, remote.key, remote.salt);
      const peer = wSession(profile, remote, local);
      const genuine = peer.encrypt(Buffer.concat([rr(5, 1), pli(5)]));
      const check = (pkt: Buffer, outLen: number): void => {
        const arena = Buffer.alloc(outLen + 64, 0xa5);
        const out = arena.subarray(0, outLen);
        const r = b.unprotectRtcp(rx, pkt, out);
        assert.ok(Number.isInteger(r), `result ${r}`);
        if (r < 0) assert.ok(ERRORS.has(r), `unknown code ${r}`);
        else assert.ok(r >= 8 && r === pkt.length - over && r <= outLen, `length ${r} for ${pkt.length} bytes into ${outLen}`);
        assert.ok(arena.subarray(outLen).every((x) => x === 0xa5), 'bytes after out untouched');
      };
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(320), (raw, outLen) => check(Buffer.from(raw), outLen)),
        { numRuns: 3000, seed: 0x5eed },
      );
      // RTCP-looking garbage (version 2, sizes around the minimum) and mutations of a genuine packet
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (raw) => {
          const p = Buffer.from(raw);
          if (p.length > 0) p[0] = 0x80 | (p[0]! & 0x3f);
          check(p, 64);
        }),
        { numRuns: 3000, seed: 7 },
      );
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat(genuine.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
          const p = Buffer.from(genuine);
          for (const [at, x] of flips) p[at]! ^= x;
          if (p.equals(genuine)) return;
          const r = b.unprotectRtcp(rx, p, Buffer.alloc(1500));
          assert.ok(r === SRTCP_ERROR.AUTH_FAILED || r === SRTCP_ERROR.MALFORMED, `mutated packet gave ${r}`);
        }),
        { numRuns: 1000, seed: 11 },
      );
      assert.equal(b.unprotectRtcp(rx, genuine, Buffer.alloc(1500)), genuine.length - over, 'the genuine packet still passes after all that');
    });
  }

  test(`${label}: ${SRTCP_RX_SLOTS} sender SSRCs keep their windows; one more evicts the least recently accepted`, () => {
    const b = backend();
    const profile: SrtpProfile = 'AEAD_AES_128_GCM';
    const k = keysFor(profile, 'slots');
    const rx = b.createContext(profile, k.key, k.salt);
    const peer = wSession(profile, k, k);
    const out = Buffer.alloc(1500);
    const first = new Map<number, Buffer>();
    for (let s = 1; s <= SRTCP_RX_SLOTS; s++) {
      const enc = peer.encrypt(rr(s, 1));
      first.set(s, enc);
      assert.equal(b.unprotectRtcp(rx, enc, out), 32);
    }
    // SSRC 1 accepts again (newer index), so SSRC 2 is now the least recently accepted
    assert.equal(b.unprotectRtcp(rx, peer.encrypt(rr(1, 1)), out), 32);
    for (let s = 1; s <= SRTCP_RX_SLOTS; s++) assert.equal(b.unprotectRtcp(rx, first.get(s)!, out), SRTCP_ERROR.REPLAYED, `ssrc ${s}`);
    assert.equal(b.unprotectRtcp(rx, peer.encrypt(rr(1000, 1)), out), 32, 'a 17th SSRC');
    assert.equal(b.unprotectRtcp(rx, first.get(1)!, out), SRTCP_ERROR.REPLAYED, 'SSRC 1 kept');
    assert.equal(b.unprotectRtcp(rx, first.get(3)!, out), SRTCP_ERROR.REPLAYED, 'SSRC 3 kept');
    assert.equal(b.unprotectRtcp(rx, first.get(2)!, out), 32, 'SSRC 2 was evicted: its window is gone');
    // SSRC 2 came back into a slot and pushed out SSRC 3: refused replays do not count as use
    assert.equal(b.unprotectRtcp(rx, first.get(3)!, out), 32, 'SSRC 3 evicted in turn');
    // ... which pushed out SSRC 4; 5..16 and 1 still have theirs
    for (const s of [5, 16, 1]) assert.equal(b.unprotectRtcp(rx, first.get(s)!, out), SRTCP_ERROR.REPLAYED, `SSRC ${s} kept`);
  });
}

/** An SRTCP packet with E=0, built by hand per RFC 3711 §3.4 / RFC 7714 §9.2 (all of the RTCP authenticated, none encrypted). */
function e0Packet(profile: SrtpProfile, k: Keys, rtcp: Buffer, index: number): Buffer {
  const salt14 = Buffer.alloc(14);
  k.salt.copy(salt14);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32BE(index, 0); // E = 0
  if (profile === 'AES_CM_128_HMAC_SHA1_80') {
    const auth = kdf(k.key, salt14, 4, 20);
    const body = Buffer.concat([rtcp, trailer]);
    return Buffer.concat([body, createHmac('sha1', auth).update(body).digest().subarray(0, 10)]);
  }
  const key = kdf(k.key, salt14, 3, 16);
  const salt = kdf(k.key, salt14, 5, 14);
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(rtcp.readUInt32BE(4), 2);
  iv.writeUInt32BE(index, 8);
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
  const c = createCipheriv('aes-128-gcm', key, iv);
  c.setAAD(Buffer.concat([rtcp, trailer]));
  c.final();
  return Buffer.concat([rtcp, c.getAuthTag(), trailer]);
}

describe('js backend', () => srtcpSuite('js', () => jsBackend));
describe('native backend', () =>
  srtcpSuite('native', () => {
    assert.ok(native, `native addon not built: ${loaded.error}`);
    return native;
  }));

test('native and js agree packet for packet: protect output, and unprotect results over reordering, replays and junk', () => {
  assert.ok(native, `native addon not built: ${loaded.error}`);
  for (const profile of PROFILES) {
    const k = keysFor(profile, `agree:${profile}`);
    const peer = wSession(profile, k, k);
    const stream: Buffer[] = [];
    // two busy sender SSRCs (≈ 150 indexes each: far enough apart for TOO_OLD), then 25 more (slot eviction)
    for (let i = 0; i < 400; i++) stream.push(peer.encrypt(compounds(i < 300 ? 1 + (i % 2) : 10 + (i % 25))[i % 6]!));
    // a deterministic shuffle with duplicates, far-back replays and garbage mixed in
    const rnd = fc.sample(fc.nat(399), { numRuns: 1200, seed: 3 });
    const feed: Buffer[] = rnd.map((i, j) => (j % 50 === 49 ? Buffer.from(bytes(`junk${j}`, 30 + (j % 3))) : stream[i]!));
    const a = native.createContext(profile, k.key, k.salt);
    const j = jsBackend.createContext(profile, k.key, k.salt);
    const outA = Buffer.alloc(1500);
    const outJ = Buffer.alloc(1500);
    const seen = new Set<number>();
    feed.forEach((p, n) => {
      const ra = native.unprotectRtcp(a, p, outA);
      const rj = jsBackend.unprotectRtcp(j, p, outJ);
      assert.equal(ra, rj, `${profile} packet ${n}`);
      seen.add(ra < 0 ? ra : 0);
      if (ra > 0) assert.deepEqual(outA.subarray(0, ra), outJ.subarray(0, rj));
    });
    for (const c of [0, SRTCP_ERROR.REPLAYED, SRTCP_ERROR.TOO_OLD, SRTCP_ERROR.AUTH_FAILED]) assert.ok(seen.has(c), `${profile}: the feed exercised result ${c}`);
    const ta = native.createContext(profile, k.key, k.salt);
    const tj = jsBackend.createContext(profile, k.key, k.salt);
    for (let i = 0; i < 50; i++) {
      const pkt = compounds(i % 3)[i % 6]!;
      const na = native.protectRtcp(ta, pkt, outA);
      assert.equal(jsBackend.protectRtcp(tj, pkt, outJ), na);
      assert.deepEqual(outA.subarray(0, na), outJ.subarray(0, na), `${profile} protect ${i}`);
    }
  }
});

test('index.ts exports the active backend\'s SRTCP functions; DRAKE_SRTP=js switches them to the JS ones', () => {
  assert.equal(protectRtcp, srtp.protectRtcp);
  assert.equal(unprotectRtcp, srtp.unprotectRtcp);
  assert.equal(setRtcpIndex, srtp.setRtcpIndex);
  if (process.env.DRAKE_SRTP !== 'js') assert.equal(srtp.name, native ? 'native' : 'js');
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const code = `import('./src/shared/srtp/index.ts').then((m) => { console.log(JSON.stringify([m.srtpBackend, m.unprotectRtcp === m.jsBackend.unprotectRtcp, m.protectRtcp === m.jsBackend.protectRtcp])); })`;
  const cwd = fileURLToPath(new URL('../..', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd, env: { ...env, DRAKE_SRTP: 'js' }, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), ['js', true, true]);
});
