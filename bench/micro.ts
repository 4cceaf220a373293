// Micro-benchmarks (tinybench) of the per-packet steps, drake's code beside werift's stock code:
//   npx tsx bench/micro.ts [--quick] [--time ms]        (also `npm run bench -- --scenario micro`)
// Every row handles one 1200-byte RTP packet (12-byte header, PT 96, as FFmpeg sends it), except the srtcp
// rows: one RTCP packet a viewer sends (RR+PLI compound, a lone NACK) or drake's own SR+SDES. Cheap steps
// are timed in batches (tinybench `overriddenDuration` = batch time / batch size), so a sample is the
// mean of one batch and the timer's own cost does not swamp a 50 ns step. ops/s, µs/op, ± (95 % margin of
// error of the mean, in %) and samples are tinybench's statistics over those samples.
// Writes bench/results/micro-<ISO time>.json.
import dgram from 'node:dgram';
import { once } from 'node:events';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Bench, type FnReturnedObject } from 'tinybench';
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
  RtpHeader,
  RtpPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  SrtcpSession,
  SrtpSession,
  type RTCRtpSender,
} from 'werift';
import { BatchSend } from '../src/actors/peer/BatchSend.ts';
import { LeanSender } from '../src/actors/peer/LeanSender.ts';
import { rtpMarker, rtpPayloadOffset, rtpPayloadType, rtpSeq, rtpTimestamp } from '../src/shared/h264.ts';
import { PacketRing, RingReader, type PacketMeta } from '../src/shared/ring.ts';
import {
  jsBackend,
  MAX_SRTCP_OVERHEAD,
  MAX_TAG,
  nativeSrtp,
  PROFILE_ID,
  SALT_LENGTH,
  srtp,
  type SrtpBackend,
  type SrtpContext,
  type SrtpProfile,
} from '../src/shared/srtp/index.ts';
import { fmt, isoStamp, machineInfo, table, writeJson, type MachineInfo } from './lib/report.ts';

export interface MicroOptions {
  /** ms of measurement per task; default 500 (100 with quick). */
  timeMs?: number;
  quick?: boolean;
  /** Write bench/results/micro-<stamp>.json (default true). */
  write?: boolean;
  machine?: MachineInfo;
  stamp?: string;
  log?: (line: string) => void;
}

export interface MicroRow {
  group: string;
  task: string;
  path: 'drake' | 'werift';
  profile: string | null;
  opsPerSec: number;
  usPerOp: number;
  usP50: number;
  usP99: number;
  /** Relative margin of error of the mean (95 %), in %. */
  rmePct: number;
  samples: number;
  /** Calls per sample (batch). */
  batch: number;
  /** UDP rows: datagrams sent in the measured phase and how many the receiver thread counted. */
  udp?: { sent: number; received: number };
}

export interface MicroResult {
  bench: 'micro';
  startedAt: string;
  durationS: number;
  machine: MachineInfo;
  settings: { timeMsPerTask: number; warmupMs: number; packetBytes: number; srtpBackend: string };
  includes: Record<string, string>;
  rows: MicroRow[];
  table: string;
  /** Table plus its legend, as printed. */
  text: string;
  file: string | null;
}

const PACKET = 1200;
const SSRC = 0x11223344;
const PT = 96;
/** Viewers per batch row (a shard's live fan-out of one packet). */
const BATCH_VIEWERS = 50;
const SHORT: Record<SrtpProfile, string> = { AES_CM_128_HMAC_SHA1_80: 'CM', AEAD_AES_128_GCM: 'GCM' };
const PROFILES: SrtpProfile[] = ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'];

/** What each group's rows do per op, for the legend and the JSON. */
const INCLUDES: Record<string, string> = {
  parse:
    "drake: h264.ts rtpSeq/rtpTimestamp/rtpMarker/rtpPayloadType/rtpPayloadOffset + SSRC read, no allocation; werift: RtpPacket.deSerialize (header object, extension array, payload subarray) + the same fields",
  rewrite:
    "drake: LeanSender.write's rewrite (copy of the packet into a reused buffer, then PT/seq/timestamp/SSRC; LeanSender keeps it inline, this bench repeats those lines); werift: deSerialize + set SSRC/PT/seq/timestamp + serialize()",
  ring: 'PacketRing.write of one packet + meta (2048 × 1536 B ring); RingReader.read(visit, 1) of one packet per call, seqlock checks, visitor reads length + first byte',
  protect: "SRTP of the packet with a context made once: drake native = addon protect() with a reused context, drake js = pure-JS fallback, werift = SrtpSession.encrypt(payload, header)",
  srtcp:
    "SRTCP of one RTCP packet (row names give the RTCP size; SRTCP adds 14 B for CM, 20 B for GCM): 'unprotect' = authenticate + decrypt what a viewer sends (an RR+PLI compound; a lone reduced-size NACK): drake = unprotectRtcp with a context made once, its replay check included (a pool of 8192 packets with increasing SRTCP indexes; a fresh context when the pool is used up), werift = SrtcpSession.decrypt (no replay check). " +
    "'protect' = drake's own SR+SDES compound: drake protectRtcp, werift SrtcpSession.encrypt",
  step:
    'one packet to one viewer. drake = LeanSender.write (the real class, fake werift sender: copy, rewrite, native protect, SR counters, connection.send). werift = what RTCRtpSender.sendRtp + RTCDtlsTransport.sendRtp do per packet minus header-extension rebuild, RTCP and BWE bookkeeping (so a lower bound): deSerialize, set SSRC/PT/seq/timestamp, SrtpSession.encrypt, connection.send. ' +
    "connection.send is the same async stand-in in both (werift's ICE send chain not included): without UDP it resolves at once; with UDP it is dgram send() on a connect()ed socket (synchronous syscall) to a 127.0.0.1 socket drained by another thread",
  batch:
    'one packet to the 50 viewers of a shard on its shared port, as PeerShard does live: per viewer LeanSender.stage (header fields, SRTP context and address into the batch), then BatchSend.flush = one protectBatch (native SRTP of all 50 copies) + one sendmmsg of 50 datagrams from an unconnected socket to the drain thread; the row is per viewer-packet (time of one batch / 50), to compare with the step rows (werift has no batch path)',
};

let sink = 0;

function rtpPacket(): Buffer {
  const p = randomBytes(PACKET);
  p[0] = 0x80;
  p[1] = 0x80 | PT;
  p.writeUInt16BE(4242, 2);
  p.writeUInt32BE(90_000, 4);
  p.writeUInt32BE(0xdeadbeef, 8);
  return p;
}

function keys(profile: SrtpProfile): { key: Buffer; salt: Buffer } {
  return { key: randomBytes(16), salt: randomBytes(SALT_LENGTH[profile]) };
}

function weriftSession(profile: SrtpProfile, k: { key: Buffer; salt: Buffer }): SrtpSession {
  return new SrtpSession({
    keys: { localMasterKey: k.key, localMasterSalt: k.salt, remoteMasterKey: k.key, remoteMasterSalt: k.salt },
    profile: PROFILE_ID[profile],
  });
}

/** Calls per sample so that a batch takes about 100 µs (also a first JIT warm-up). */
function batchSize(step: () => void): number {
  for (let i = 0; i < 200; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) step();
  const per = (performance.now() - t0) / 200;
  return Math.max(1, Math.min(4096, Math.round(0.1 / Math.max(per, 1e-6))));
}

/** `per`: viewer-packets one step makes (a batch row times K viewers per step, reported per viewer-packet). */
function batched(step: () => void, n: number, per = 1): () => FnReturnedObject {
  return () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) step();
    const dt = performance.now() - t0;
    return { overriddenDuration: dt / (n * per), overriddenIterationCost: dt };
  };
}

/** As batched(), but awaits once after the batch so the send promises' reactions are inside the time. */
function batchedAsync(step: () => void, n: number, per = 1): () => Promise<FnReturnedObject> {
  return async () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) step();
    await undefined;
    const dt = performance.now() - t0;
    return { overriddenDuration: dt / (n * per), overriddenIterationCost: dt };
  };
}

/** A 127.0.0.1 UDP socket in its own thread that counts what arrives (so this thread's loop need not run). */
class Receiver {
  readonly #w = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const s = require('node:dgram').createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
     let n = 0;
     s.on('message', () => n++);
     s.bind(0, '127.0.0.1', () => parentPort.postMessage({ port: s.address().port }));
     parentPort.on('message', (m) => {
       if (m === 'count') parentPort.postMessage({ count: n });
       else if (m === 'reset') { n = 0; parentPort.postMessage({ count: 0 }); }
       else { s.close(); parentPort.close(); }
     });`,
    { eval: true },
  );

  async port(): Promise<number> {
    const [m] = (await once(this.#w, 'message')) as [{ port: number }];
    return m.port;
  }

  async ask(what: 'count' | 'reset'): Promise<number> {
    this.#w.postMessage(what);
    const [m] = (await once(this.#w, 'message')) as [{ count: number }];
    return m.count;
  }

  async close(): Promise<void> {
    this.#w.postMessage('close');
    await Promise.race([once(this.#w, 'exit'), new Promise((r) => setTimeout(r, 1000))]);
    await this.#w.terminate();
  }
}

/** The parts of werift's RTCRtpSender that LeanSender touches. */
function fakeSender(send: (data: Buffer) => Promise<void>, remotePort = 9): RTCRtpSender {
  return {
    ssrc: SSRC,
    codec: { payloadType: PT },
    ntpTimestamp: 0n,
    rtpTimestamp: 0,
    packetCount: 0,
    octetCount: 0,
    runRtcp() {},
    // nominated: where LeanSender.stage() addresses a batched copy (the drain thread's socket).
    dtlsTransport: { iceTransport: { connection: { send, nominated: { protocol: { type: 'stun' }, remoteCandidate: { host: '127.0.0.1', port: remotePort } } } } },
  } as unknown as RTCRtpSender;
}

interface Spec {
  group: string;
  task: string;
  path: 'drake' | 'werift';
  profile: SrtpProfile | null;
  batch: number;
  udp?: { sent: number; received: number };
}

export async function runMicro(opts: MicroOptions = {}): Promise<MicroResult> {
  const log = opts.log ?? (() => {});
  const timeMs = opts.timeMs ?? (opts.quick ? 100 : 500);
  const warmupMs = opts.quick ? 30 : 100;
  const startedAt = new Date();
  const machine = opts.machine ?? machineInfo('ffmpeg');
  const backend: SrtpBackend = nativeSrtp ?? srtp;
  const nativeLabel = nativeSrtp ? 'native' : 'js (addon not built)';

  const receiver = new Receiver();
  const tx = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  // The batch rows' shared socket: not connect()ed (sendmmsg carries an address per packet).
  const shardTx = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  const specs = new Map<string, Spec>();
  const bench = new Bench({ name: 'micro', time: timeMs, warmupTime: warmupMs, iterations: 16 });
  try {
    const rxPort = await receiver.port();
    tx.bind(0, '127.0.0.1');
    await once(tx, 'listening');
    tx.connect(rxPort, '127.0.0.1');
    await once(tx, 'connect');
    shardTx.bind(0, '127.0.0.1');
    await once(shardTx, 'listening');
    const udp = { sent: 0 };
    const noSend = async (_data: Buffer): Promise<void> => {};
    const udpSend = async (data: Buffer): Promise<void> => {
      tx.send(data);
      udp.sent++;
    };

    const add = (spec: Omit<Spec, 'batch'>, step: () => void, withUdp = false, per = 1): void => {
      const batch = batchSize(step);
      const s: Spec = { ...spec, batch };
      specs.set(spec.task, s);
      if (!withUdp) {
        bench.add(spec.task, batched(step, batch, per));
        return;
      }
      bench.add(spec.task, batchedAsync(step, batch, per), {
        async: true,
        beforeAll: async (mode) => {
          if (mode !== 'run') return;
          await new Promise((r) => setTimeout(r, 50)); // let warm-up datagrams land
          await receiver.ask('reset');
          udp.sent = 0;
        },
        afterAll: async (mode) => {
          if (mode !== 'run') return;
          await new Promise((r) => setTimeout(r, 100));
          s.udp = { sent: udp.sent, received: await receiver.ask('count') };
        },
      });
    };

    const src = rtpPacket();

    // 1. header parse
    add({ group: 'parse', task: 'RTP header parse — drake (h264.ts readers)', path: 'drake', profile: null }, () => {
      sink += rtpSeq(src) + rtpTimestamp(src) + (rtpMarker(src) ? 1 : 0) + rtpPayloadType(src) + rtpPayloadOffset(src) + src.readUInt32BE(8);
    });
    add({ group: 'parse', task: 'RTP header parse — werift RtpPacket.deSerialize', path: 'werift', profile: null }, () => {
      const p = RtpPacket.deSerialize(src);
      const h = p.header;
      sink += h.sequenceNumber + h.timestamp + (h.marker ? 1 : 0) + h.payloadType + p.payload.length + h.ssrc;
    });

    // 2. header rewrite for one viewer
    {
      const plain = Buffer.allocUnsafe(1500);
      let seq = 0;
      add({ group: 'rewrite', task: 'RTP rewrite, one viewer — drake (copy + PT/seq/ts/SSRC)', path: 'drake', profile: null }, () => {
        seq = (seq + 1) & 0xffff;
        const len = src.length;
        src.copy(plain, 0, 0, len);
        plain[1] = (src[1]! & 0x80) | PT;
        plain.writeUInt16BE(seq, 2);
        plain.writeUInt32BE(90_000 >>> 0, 4);
        plain.writeUInt32BE(SSRC >>> 0, 8);
        sink += plain[3]!;
      });
    }
    {
      let seq = 0;
      add({ group: 'rewrite', task: 'RTP rewrite, one viewer — werift deSerialize + set + serialize', path: 'werift', profile: null }, () => {
        seq = (seq + 1) & 0xffff;
        const p = RtpPacket.deSerialize(src);
        p.header.ssrc = SSRC;
        p.header.payloadType = PT;
        p.header.sequenceNumber = seq;
        p.header.timestamp = 90_000;
        sink += p.serialize().length;
      });
    }

    // 3. ring
    {
      const ring = PacketRing.create();
      const meta: PacketMeta = { seq: 0, timestamp: 90_000, arrivedAt: 0, kind: 'video', keyframeStart: false, marker: true };
      add({ group: 'ring', task: 'ring write, one packet', path: 'drake', profile: null }, () => {
        meta.seq = (meta.seq + 1) & 0xffff;
        meta.arrivedAt = 1;
        sink += ring.write(src, meta);
      });
      // The read row times read(visit, 1) only; the writes that feed it happen outside the timed part.
      const rring = PacketRing.create();
      const reader = new RingReader(rring);
      const visit = (view: Buffer, m: { length: number }): void => {
        sink += m.length + view[0]!;
      };
      const n = 1024;
      const spec: Spec = { group: 'ring', task: 'ring read, one packet per read() call', path: 'drake', profile: null, batch: n };
      specs.set(spec.task, spec);
      bench.add(spec.task, (): FnReturnedObject => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) rring.write(src, meta);
        const t1 = performance.now();
        for (let i = 0; i < n; i++) reader.read(visit, 1);
        const t2 = performance.now();
        if (reader.lag !== 0 || reader.missed !== 0) throw new Error('ring read bench fell behind');
        return { overriddenDuration: (t2 - t1) / n, overriddenIterationCost: t2 - t0 };
      });
    }

    // 4. SRTP protect
    for (const profile of PROFILES) {
      const s = SHORT[profile];
      const packet = rtpPacket();
      const out = Buffer.alloc(PACKET + MAX_TAG);
      for (const [label, b] of [
        [nativeLabel, backend],
        ['js', jsBackend],
      ] as const) {
        if (label === 'js' && backend === jsBackend) continue;
        const k = keys(profile);
        const ctx = b.createContext(profile, k.key, k.salt);
        let seq = 0;
        add({ group: 'protect', task: `SRTP protect ${s} — drake ${label}`, path: 'drake', profile }, () => {
          seq = (seq + 1) & 0xffff;
          packet.writeUInt16BE(seq, 2);
          sink += b.protect(ctx, packet, out);
        });
      }
      const session = weriftSession(profile, keys(profile));
      const header = new RtpHeader({ payloadType: PT, sequenceNumber: 0, timestamp: 90_000, ssrc: SSRC });
      const payload = packet.subarray(12);
      add({ group: 'protect', task: `SRTP protect ${s} — werift SrtpSession.encrypt`, path: 'werift', profile }, () => {
        header.sequenceNumber = (header.sequenceNumber + 1) & 0xffff;
        sink += session.encrypt(payload, header).length;
      });
    }

    // 4b. SRTCP: what viewers send back (unprotect) and drake's own SR (protect)
    {
      const viewer = 0x00000001; // libwebrtc's RTCP sender SSRC of a receive-only viewer
      const rrPli = Buffer.concat([
        new RtcpRrPacket({
          ssrc: viewer,
          reports: [new RtcpReceiverInfo({ ssrc: SSRC, fractionLost: 0, packetsLost: 3, highestSequence: 70_123, jitter: 40, lsr: 0x12345678, dlsr: 0x1000 })],
        }).serialize(),
        new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: viewer, mediaSsrc: SSRC }) }).serialize(),
      ]);
      const nack = new RtcpTransportLayerFeedback({
        feedback: new GenericNack({ senderSsrc: viewer, mediaSourceSsrc: SSRC, lost: [4242, 4243, 4250] }),
      }).serialize();
      const srSdes = Buffer.concat([
        new RtcpSrPacket({
          ssrc: SSRC,
          senderInfo: new RtcpSenderInfo({ ntpTimestamp: 0x83aa7e80_00000000n, rtpTimestamp: 90_000, packetCount: 1000, octetCount: 1_200_000 }),
          reports: [],
        }).serialize(),
        new RtcpSourceDescriptionPacket({
          chunks: [new SourceDescriptionChunk({ source: SSRC, items: [new SourceDescriptionItem({ type: 1, text: 'drake' })] })],
        }).serialize(),
      ]);
      const POOL = 8192;
      for (const profile of PROFILES) {
        const s = SHORT[profile];
        const k = keys(profile);
        for (const [what, rtcp] of [
          ['RR+PLI', rrPli],
          ['NACK', nack],
        ] as const) {
          // POOL consecutive SRTCP packets of one viewer (indexes 1..POOL), made with drake's protectRtcp,
          // which test/srtp/srtcp.test.ts shows byte-identical to werift's SrtcpSession.encrypt.
          const maker = backend.createContext(profile, k.key, k.salt);
          const pool: Buffer[] = [];
          for (let i = 0; i < POOL; i++) {
            const b = Buffer.alloc(rtcp.length + MAX_SRTCP_OVERHEAD);
            pool.push(b.subarray(0, backend.protectRtcp(maker, rtcp, b)));
          }
          const label = `SRTCP unprotect ${what} (${rtcp.length} B) ${s}`;
          for (const [name, b] of [
            [nativeLabel, backend],
            ['js', jsBackend],
          ] as const) {
            if (name === 'js' && backend === jsBackend) continue;
            let ctx: SrtpContext = b.createContext(profile, k.key, k.salt);
            let i = 0;
            const out = Buffer.alloc(1500);
            add({ group: 'srtcp', task: `${label} — drake ${name}`, path: 'drake', profile }, () => {
              if (i === POOL) {
                i = 0;
                ctx = b.createContext(profile, k.key, k.salt); // the pool's indexes start over: a new replay window
              }
              const n = b.unprotectRtcp(ctx, pool[i++]!, out);
              if (n !== rtcp.length) throw new Error(`unprotectRtcp returned ${n}`);
              sink += n;
            });
          }
          const session = new SrtcpSession({
            keys: { localMasterKey: k.key, localMasterSalt: k.salt, remoteMasterKey: k.key, remoteMasterSalt: k.salt },
            profile: PROFILE_ID[profile],
          });
          let j = 0;
          add({ group: 'srtcp', task: `${label} — werift SrtcpSession.decrypt`, path: 'werift', profile }, () => {
            sink += session.decrypt(pool[j]!).length;
            j = (j + 1) % POOL;
          });
        }
        const label = `SRTCP protect SR+SDES (${srSdes.length} B) ${s}`;
        const out = Buffer.alloc(srSdes.length + MAX_SRTCP_OVERHEAD);
        for (const [name, b] of [
          [nativeLabel, backend],
          ['js', jsBackend],
        ] as const) {
          if (name === 'js' && backend === jsBackend) continue;
          const ctx = b.createContext(profile, k.key, k.salt);
          add({ group: 'srtcp', task: `${label} — drake ${name}`, path: 'drake', profile }, () => {
            sink += b.protectRtcp(ctx, srSdes, out);
          });
        }
        const session = new SrtcpSession({
          keys: { localMasterKey: k.key, localMasterSalt: k.salt, remoteMasterKey: k.key, remoteMasterSalt: k.salt },
          profile: PROFILE_ID[profile],
        });
        add({ group: 'srtcp', task: `${label} — werift SrtcpSession.encrypt`, path: 'werift', profile }, () => {
          sink += session.encrypt(srSdes).length;
        });
      }
    }

    // 5. one packet to one viewer
    for (const profile of PROFILES) {
      const s = SHORT[profile];
      for (const [how, send] of [
        ['', noSend],
        [' + UDP send', udpSend],
      ] as const) {
        const withUdp = send === udpSend;
        {
          const k = keys(profile);
          const lean = new LeanSender(fakeSender(send), backend.createContext(profile, k.key, k.salt));
          let seq = 0;
          add(
            { group: 'step', task: `packet → viewer ${s} — drake LeanSender.write${how}`, path: 'drake', profile },
            () => {
              seq = (seq + 1) & 0xffff;
              sink += lean.write(src, seq, 90_000);
            },
            withUdp,
          );
        }
        {
          const session = weriftSession(profile, keys(profile));
          let seq = 0;
          const swallow = (): void => {};
          add(
            { group: 'step', task: `packet → viewer ${s} — werift parse + set + encrypt${how}`, path: 'werift', profile },
            () => {
              seq = (seq + 1) & 0xffff;
              const { header, payload } = RtpPacket.deSerialize(src);
              header.ssrc = SSRC;
              header.payloadType = PT;
              header.sequenceNumber = seq;
              header.timestamp = 90_000;
              const enc = session.encrypt(payload, header);
              void send(enc).catch(swallow);
              sink += enc.length;
            },
            withUdp,
          );
        }
      }
    }

    // 6. one packet to the K viewers of a shard (shared port): each viewer's header, context and address
    // staged, then one protectBatch and one sendmmsg — the live path of PeerShard, per viewer-packet.
    for (const profile of PROFILES) {
      const s = SHORT[profile];
      const batch = new BatchSend(shardTx, BATCH_VIEWERS);
      const viewers = Array.from({ length: BATCH_VIEWERS }, () => {
        const k = keys(profile);
        return new LeanSender(fakeSender(noSend, rxPort), backend.createContext(profile, k.key, k.salt));
      });
      let seq = 0;
      add(
        { group: 'batch', task: `packet → ${BATCH_VIEWERS} viewers ${s} — drake LeanSender.stage ×${BATCH_VIEWERS} + BatchSend.flush, per viewer-packet`, path: 'drake', profile },
        () => {
          seq = (seq + 1) & 0xffff;
          for (const v of viewers) v.stage(batch, src, seq, 90_000);
          udp.sent += batch.flush(src);
        },
        true,
        BATCH_VIEWERS,
      );
    }

    log(`micro: ${bench.tasks.length} tasks × ${timeMs} ms (SRTP backend ${nativeLabel})`);
    await bench.run();
  } finally {
    tx.close();
    shardTx.close();
    await receiver.close();
  }

  const rows: MicroRow[] = bench.tasks.map((t) => {
    const spec = specs.get(t.name)!;
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`micro: ${t.name}: ${r.state}${r.state === 'errored' ? ` ${r.error.message}` : ''}`);
    return {
      group: spec.group,
      task: spec.task,
      path: spec.path,
      profile: spec.profile ? SHORT[spec.profile] : null,
      opsPerSec: 1000 / r.period,
      usPerOp: r.latency.mean * 1000,
      usP50: r.latency.p50 * 1000,
      usP99: r.latency.p99 * 1000,
      rmePct: r.latency.rme,
      samples: r.latency.samplesCount,
      batch: spec.batch,
      ...(spec.udp ? { udp: spec.udp } : {}),
    };
  });
  const tableText = table(
    ['task', 'ops/s', 'µs/op', '± %', 'µs p50', 'samples'],
    rows.map((r) => [r.task, Math.round(r.opsPerSec).toLocaleString('en-US'), fmt(r.usPerOp, r.usPerOp < 1 ? 3 : 2), fmt(r.rmePct, 1), fmt(r.usP50, r.usP50 < 1 ? 3 : 2), r.samples]),
  );
  const udpNote = rows
    .filter((r) => r.udp)
    .map((r) => `${r.path} ${r.profile} ${r.udp!.received}/${r.udp!.sent}`)
    .join(', ');
  const legend = [
    `One ${PACKET}-byte RTP packet per op; SRTP backend ${nativeLabel}; ${timeMs} ms per task; a sample is the mean of a batch of calls; ` +
      `µs/op = tinybench's mean (period), ops/s = 1 / that, ± = 95 % margin of error of the mean, p50 = median sample. ` +
      `Load average ${machine.loadavgAtStart.join(' ')} at start, ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at end (other load on the box widens ±).`,
    ...Object.entries(INCLUDES).map(([g, s]) => `- *${g}*: ${s}.`),
    `- UDP datagrams received by the drain thread / sent (a receiver in JS cannot keep up, so less than all is expected): ${udpNote || '–'}.`,
  ].join('\n');
  const durationS = (Date.now() - startedAt.getTime()) / 1000;
  const result: MicroResult = {
    bench: 'micro',
    startedAt: startedAt.toISOString(),
    durationS,
    machine,
    settings: { timeMsPerTask: timeMs, warmupMs, packetBytes: PACKET, srtpBackend: nativeLabel },
    includes: INCLUDES,
    rows,
    table: tableText,
    text: `${tableText}\n\n${legend}`,
    file: null,
  };
  if (opts.write !== false) result.file = writeJson(`micro-${opts.stamp ?? isoStamp(startedAt)}.json`, { ...result, text: undefined });
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, time: { type: 'string' } }, strict: true });
  const timeMs = values.time === undefined ? undefined : Number(values.time);
  if (timeMs !== undefined && !(timeMs > 0)) throw new Error(`--time must be a positive number of ms, got ${values.time}`);
  const r = await runMicro({ quick: values.quick, timeMs, log: (s) => process.stderr.write(`${s}\n`) });
  const m = r.machine;
  console.log(`# drake micro-benchmarks, ${r.startedAt}\n\n${m.cpu}, ${m.cores} cores, node ${m.node}, ${m.os}\n`);
  console.log(r.text);
  console.log(`\n${r.durationS.toFixed(1)} s; wrote ${r.file}`);
  process.exit(0);
}
