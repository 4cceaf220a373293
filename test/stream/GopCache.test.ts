import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { GopCache } from '../../src/actors/stream/GopCache.ts';
import {
  NAL,
  extractParameterSets,
  h264NalTypesStarting,
  rtpPayloadType,
  rtpSeq,
  rtpTimestamp,
} from '../../src/shared/h264.ts';

const SPS = [0x67, 0x42, 0xc0, 0x1e, 0xd9];
const PPS = [0x68, 0xce, 0x3c, 0x80];
const SPS2 = [0x67, 0x42, 0xc0, 0x28, 0xaa];
const PPS2 = [0x68, 0xce, 0x3c, 0x81];

/** Builds RTP packets with consecutive sequence numbers, like one FFmpeg RTP output. */
class Sender {
  constructor(public seq = 100) {}
  pkt(ts: number, payload: number[], marker = false): Buffer {
    const b = Buffer.alloc(12 + payload.length);
    b[0] = 0x80;
    b[1] = (marker ? 0x80 : 0) | 96;
    b.writeUInt16BE(this.seq, 2);
    this.seq = (this.seq + 1) & 0xffff;
    b.writeUInt32BE(ts, 4);
    b.writeUInt32BE(0x5eed5eed, 8);
    Buffer.from(payload).copy(b, 12);
    return b;
  }
  stap(ts: number, units: number[][], marker = false): Buffer {
    const p = [NAL.STAP_A | 0x60];
    for (const u of units) p.push(u.length >> 8, u.length & 0xff, ...u);
    return this.pkt(ts, p, marker);
  }
  /** One NAL unit of `type` fragmented into `n` >= 2 FU-As (S and E together are forbidden). */
  fua(ts: number, type: number, n: number, lastMarker = true): Buffer[] {
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const s = i === 0 ? 0x80 : 0;
      const e = i === n - 1 ? 0x40 : 0;
      out.push(this.pkt(ts, [0x60 | NAL.FU_A, s | e | type, 0xaa, i], lastMarker && i === n - 1));
    }
    return out;
  }
  /** FFmpeg's keyframe: STAP-A(SPS, PPS) then the IDR in FU-As, all at `ts`. */
  keyframe(ts: number, fragments = 3): Buffer[] {
    return [this.stap(ts, [SPS, PPS]), ...this.fua(ts, NAL.IDR, fragments)];
  }
  /** A P frame in one single-NAL packet. */
  pframe(ts: number): Buffer {
    return this.pkt(ts, [0x41, 0x9a, ts & 0xff], true);
  }
}

function feed(cache: GopCache, pkts: Buffer[]): void {
  for (const p of pkts) cache.push(p);
}

function types(cache: GopCache): number[][] {
  return cache.packets().map((p) => h264NalTypesStarting(p));
}

function seqs(cache: GopCache): number[] {
  return cache.packets().map(rtpSeq);
}

test('GopCache.packets() is empty until an IDR was seen', () => {
  const s = new Sender();
  const cache = new GopCache();
  feed(cache, [s.stap(1000, [SPS, PPS]), s.pframe(1000), s.pframe(4600), s.pframe(8200)]);
  assert.equal(cache.packets().length, 0);
  assert.equal(cache.keyframeTimestamp, null);
  assert.equal(cache.bytes, 0);
});

test('GopCache.push() starts the GOP at the SPS/PPS that precede the IDR with the same timestamp', () => {
  const s = new Sender(500);
  const cache = new GopCache();
  feed(cache, [s.pframe(100), s.pframe(3700)]);
  const key = s.keyframe(7300, 3);
  feed(cache, key);
  feed(cache, [s.pframe(10900), s.pframe(14500)]);
  assert.deepEqual(types(cache), [[7, 8], [5], [], [], [1], [1]]);
  assert.deepEqual(seqs(cache), [502, 503, 504, 505, 506, 507]);
  assert.equal(cache.keyframeTimestamp, 7300);
  assert.deepEqual(cache.packets()[0], key[0]);
  assert.equal(cache.bytes, cache.packets().reduce((n, p) => n + p.length, 0));
});

test('GopCache.push() restarts at the next IDR', () => {
  const s = new Sender();
  const cache = new GopCache();
  feed(cache, s.keyframe(0));
  for (let i = 1; i < 25; i++) cache.push(s.pframe(i * 3600));
  assert.equal(cache.packets().length, 4 + 24);
  const before = cache.packets();
  feed(cache, [s.stap(90000, [SPS2, PPS2]), ...s.fua(90000, NAL.IDR, 2)]);
  cache.push(s.pframe(93600));
  assert.equal(cache.keyframeTimestamp, 90000);
  assert.deepEqual(types(cache), [[7, 8], [5], [], [1]]);
  assert.deepEqual(extractParameterSets(cache.packets()[0]!).sps, [Buffer.from(SPS2)]);
  // The old array got the next access unit's SPS/PPS appended (a viewer joining between them and the IDR
  // needs it, as it was already sent live), then the restart replaced it rather than emptying it.
  assert.equal(before.length, 28 + 1);
  assert.deepEqual(h264NalTypesStarting(before.at(-1)!), [7, 8]);
  assert.notEqual(before, cache.packets());
});

test('GopCache.push() does not restart on the second IDR slice of the same picture', () => {
  const s = new Sender();
  const cache = new GopCache();
  // x264 sliced threads: one IDR picture = several IDR slices, each in its own FU-A run.
  feed(cache, [s.stap(9000, [SPS, PPS]), ...s.fua(9000, NAL.IDR, 2, false), ...s.fua(9000, NAL.IDR, 3, true)]);
  cache.push(s.stap(12600, [[0x41, 1], [0x41, 2]], true));
  assert.deepEqual(types(cache), [[7, 8], [5], [], [5], [], [], [1, 1]]);
  assert.equal(cache.keyframeTimestamp, 9000);
});

test('GopCache.push() counts a STAP-A holding SPS, PPS and the IDR', () => {
  const s = new Sender();
  const cache = new GopCache();
  cache.push(s.pframe(1));
  cache.push(s.stap(3601, [SPS, PPS, [0x65, 0x88, 0x84]], true));
  cache.push(s.pframe(7201));
  assert.deepEqual(types(cache), [[7, 8, 5], [1]]);
  assert.equal(cache.keyframeTimestamp, 3601);
});

test('GopCache.push() keeps AUD and SEI packets that open the IDR access unit', () => {
  const s = new Sender(10);
  const cache = new GopCache();
  cache.push(s.pframe(0));
  feed(cache, [
    s.pkt(3600, [0x09, 0xf0]),
    s.pkt(3600, [0x06, 0x05, 0x01, 0x80]),
    s.pkt(3600, SPS),
    s.pkt(3600, PPS),
    ...s.fua(3600, NAL.IDR, 2),
  ]);
  assert.deepEqual(types(cache), [[9], [6], [7], [8], [5], []]);
  assert.deepEqual(seqs(cache), [11, 12, 13, 14, 15, 16]);
});

test('GopCache.push() keeps a fragmented SEI that opens the IDR access unit', () => {
  const s = new Sender();
  const cache = new GopCache();
  feed(cache, [s.stap(50, [SPS, PPS]), ...s.fua(50, NAL.SEI, 3, false), ...s.fua(50, NAL.IDR, 2)]);
  assert.deepEqual(types(cache), [[7, 8], [6], [], [], [5], []]);
});

test('GopCache.push() puts the last SPS/PPS first when the IDR access unit carried none', () => {
  const s = new Sender(1000);
  const cache = new GopCache();
  feed(cache, s.keyframe(0));
  cache.push(s.pframe(3600));
  cache.push(s.stap(7200, [SPS2, PPS2], true)); // parameter sets in an access unit of their own
  cache.push(s.pframe(10800));
  const idrSeq = s.seq;
  feed(cache, s.fua(14400, NAL.IDR, 2));
  cache.push(s.pframe(18000));
  assert.equal(cache.keyframeTimestamp, 14400);
  const pkts = cache.packets();
  assert.deepEqual(types(cache), [[7, 8], [5], [], [1]]);
  assert.equal(rtpTimestamp(pkts[0]!), 14400);
  assert.equal(rtpSeq(pkts[0]!), idrSeq - 1);
  assert.equal(rtpPayloadType(pkts[0]!), 96);
  assert.equal(pkts[0]!.readUInt32BE(8), 0x5eed5eed);
  assert.equal(pkts[0]![1]! & 0x80, 0, 'marker clear');
  assert.deepEqual(extractParameterSets(pkts[0]!), { sps: [Buffer.from(SPS2)], pps: [Buffer.from(PPS2)] });
  assert.equal(cache.bytes, pkts.reduce((n, p) => n + p.length, 0));
});

test('GopCache.push() completes an access unit that carried only the SPS, and wraps the sequence number', () => {
  const s = new Sender(65534);
  const cache = new GopCache();
  feed(cache, s.keyframe(0)); // 65534, 65535, 0, 1
  cache.push(s.pframe(3600)); // 2
  feed(cache, [s.pkt(7200, [0x06, 0x05, 0x01, 0x80]), s.pkt(7200, SPS2), ...s.fua(7200, NAL.IDR, 2)]);
  assert.deepEqual(types(cache), [[7, 8], [6], [7], [5], []]);
  assert.deepEqual(seqs(cache), [2, 3, 4, 5, 6]);
  assert.deepEqual(extractParameterSets(cache.packets()[0]!), { sps: [Buffer.from(SPS2)], pps: [Buffer.from(PPS)] });

  const w = new Sender(65533);
  const wrap = new GopCache();
  feed(wrap, w.keyframe(0, 2)); // 65533, 65534, 65535
  feed(wrap, w.fua(3600, NAL.IDR, 2)); // 0, 1
  assert.deepEqual(seqs(wrap), [65535, 0, 1], 'the synthesized STAP-A takes seq 0 - 1 = 65535');
});

test('GopCache.push() caches nothing while no SPS/PPS were ever seen', () => {
  const s = new Sender();
  const cache = new GopCache();
  feed(cache, s.fua(0, NAL.IDR, 2));
  cache.push(s.pframe(3600));
  assert.equal(cache.packets().length, 0);
  assert.equal(cache.keyframeTimestamp, null);
  feed(cache, s.keyframe(7200));
  assert.deepEqual(types(cache), [[7, 8], [5], [], []]);
});

test('GopCache.push() copies what it keeps', () => {
  const s = new Sender();
  const cache = new GopCache();
  const buf = Buffer.alloc(64);
  for (const p of [...s.keyframe(0), s.pframe(3600)]) {
    p.copy(buf);
    cache.push(buf.subarray(0, p.length));
    buf.fill(0xff);
  }
  assert.deepEqual(types(cache), [[7, 8], [5], [], [], [1]]);
  for (const p of cache.packets()) {
    assert.equal(p.byteOffset, 0, 'own ArrayBuffer, not a slice of a shared pool');
    assert.equal(p.buffer.byteLength, p.length);
  }
});

test('GopCache.push() ignores malformed packets', () => {
  const s = new Sender();
  const cache = new GopCache();
  feed(cache, s.keyframe(0));
  cache.push(Buffer.alloc(5));
  cache.push(Buffer.from([0x40, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x65]));
  cache.push(undefined as unknown as Buffer);
  assert.equal(cache.packets().length, 4);
});

test('GopCache.push() empties the cache on overflow until the next IDR', () => {
  const s = new Sender();
  const cache = new GopCache({ maxPackets: 10 });
  feed(cache, s.keyframe(0)); // 4 packets
  for (let i = 1; i <= 6; i++) cache.push(s.pframe(i * 3600));
  assert.equal(cache.packets().length, 10);
  assert.equal(cache.overflows, 0);
  cache.push(s.pframe(7 * 3600));
  assert.equal(cache.overflows, 1);
  assert.equal(cache.packets().length, 0);
  assert.equal(cache.bytes, 0);
  assert.equal(cache.keyframeTimestamp, null);
  for (let i = 8; i <= 12; i++) cache.push(s.pframe(i * 3600));
  assert.equal(cache.packets().length, 0);
  feed(cache, s.keyframe(13 * 3600));
  assert.deepEqual(types(cache), [[7, 8], [5], [], []]);
  assert.equal(cache.overflows, 1);
});

test('GopCache.push() counts a byte overflow, also when the IDR access unit alone is too big', () => {
  const s = new Sender();
  const cache = new GopCache({ maxBytes: 60 });
  feed(cache, s.keyframe(0, 3)); // 26 + 16 * 3 = 74 bytes
  assert.equal(cache.overflows, 1);
  assert.equal(cache.packets().length, 0);
  cache.push(s.pframe(3600));
  assert.equal(cache.packets().length, 0, 'the rest of the GOP is not cached');
  feed(cache, s.keyframe(7200, 2));
  assert.deepEqual(types(cache), [[7, 8], [5], []]);
  assert.equal(cache.bytes, 26 + 16 * 2);
});

test('GopCache.clear() forgets the GOP and the parameter sets', () => {
  const s = new Sender();
  const cache = new GopCache();
  feed(cache, s.keyframe(0));
  cache.clear();
  assert.equal(cache.packets().length, 0);
  assert.equal(cache.keyframeTimestamp, null);
  assert.equal(cache.bytes, 0);
  feed(cache, s.fua(3600, NAL.IDR, 2));
  assert.equal(cache.packets().length, 0, 'no SPS/PPS known after clear()');
});

/** Runs the brief's FFmpeg command into a UDP socket and returns the RTP packets of payload type 96. */
async function ffmpegRtp(): Promise<Buffer[]> {
  const sock = dgram.createSocket('udp4');
  const rtcp = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  rtcp.on('message', () => {});
  rtcp.on('error', () => {});
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const port = sock.address().port;
  // rtp:// sends RTCP sender reports to PORT+1; take it when free, it is only noise here.
  await new Promise<void>((resolve) => {
    rtcp.once('error', () => resolve());
    rtcp.bind(port + 1, '127.0.0.1', resolve);
  });
  try {
    // prettier-ignore
    await execa('/usr/bin/ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-t', '3', '-i', 'testsrc=size=320x240:rate=25',
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
      '-bf', '0', '-g', '25', '-f', 'rtp', '-payload_type', '96', '-pkt_size', '1200', `rtp://127.0.0.1:${port}`,
    ], { timeout: 20_000, stdin: 'ignore' }); // stdout gets the SDP, even at -loglevel error
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    sock.close();
    try {
      rtcp.close();
    } catch {
      // never bound
    }
  }
  return got.filter((p) => {
    const pt = rtpPayloadType(p);
    return pt !== -1 && !(pt >= 72 && pt <= 76) && pt === 96;
  });
}

test(
  'GopCache.push() caches real FFmpeg RTP output GOP by GOP',
  { skip: existsSync('/usr/bin/ffmpeg') ? false : '/usr/bin/ffmpeg is missing', timeout: 30_000 },
  async () => {
    const pkts = await ffmpegRtp();
    assert.ok(pkts.length > 75, `only ${pkts.length} RTP packets`);
    const cache = new GopCache();
    const keyTs: number[] = [];
    const gops: Buffer[][] = [];
    let prevLen = 0;
    let prev: readonly Buffer[] = [];
    for (const p of pkts) {
      cache.push(p);
      const len = cache.packets().length;
      if (cache.keyframeTimestamp !== null && keyTs.at(-1) !== cache.keyframeTimestamp) {
        keyTs.push(cache.keyframeTimestamp);
        if (prevLen > 0) gops.push([...prev]);
      } else if (prevLen > 0) {
        assert.equal(len, prevLen + 1, 'within a GOP every packet is appended');
      }
      prevLen = len;
      prev = cache.packets();
    }
    gops.push([...cache.packets()]);
    assert.equal(cache.overflows, 0);

    // GOP 25 at 25 fps over 3 s: IDRs at 0 s, 1 s, 2 s, i.e. 90000 ticks of the 90 kHz clock apart.
    assert.ok(keyTs.length >= 3 && keyTs.length <= 4, `keyframes at ${keyTs.join(', ')}`);
    for (let i = 1; i < keyTs.length; i++) {
      const d = (keyTs[i]! - keyTs[i - 1]! + 2 ** 32) % 2 ** 32;
      assert.ok(Math.abs(d - 90000) <= 3600, `keyframe interval ${d}`);
    }

    for (const gop of gops) {
      const nals = gop.flatMap((p) => h264NalTypesStarting(p));
      const firstSlice = nals.findIndex((t) => t >= 1 && t <= 5);
      assert.equal(nals[0], NAL.SPS);
      assert.equal(nals[1], NAL.PPS);
      assert.equal(nals[firstSlice], NAL.IDR, 'the first slice is an IDR');
      assert.ok(nals.slice(2, firstSlice).every((t) => t === NAL.SEI || t === NAL.AUD));
      for (let i = 1; i < gop.length; i++) {
        assert.equal(rtpSeq(gop[i]!), (rtpSeq(gop[i - 1]!) + 1) & 0xffff, `seq gap at ${i}`);
      }
      assert.equal(rtpTimestamp(gop[0]!), rtpTimestamp(gop.find((p) => h264NalTypesStarting(p).includes(NAL.IDR))!));
    }
    // Whole GOPs (all but the last, cut short by -t 3) hold 25 frames, plus the STAP-A with the next
    // IDR's SPS/PPS, cached as it arrived before that IDR restarted the GOP.
    for (let i = 0; i < gops.length - 1; i++) {
      const ts = gops[i]!.map(rtpTimestamp);
      assert.equal(ts.at(-1), keyTs[i + 1]);
      assert.equal(new Set(ts.filter((t) => t !== keyTs[i + 1])).size, 25);
    }
  },
);
