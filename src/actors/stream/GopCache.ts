// The fast-join cache: the RTP packets of the current GOP, from the access unit holding the last IDR
// onward, so that a new WebRTC viewer can be sent a decodable picture at once instead of waiting for the
// next keyframe. Fed with every video RTP packet FFmpeg sends, in arrival order.
//
// Access units are delimited by the RTP timestamp (RFC 6184: all packets of one access unit share it) and
// by the marker bit (set on an access unit's last packet). An access unit that starts with non-VCL packets
// (AUD, SEI, SPS, PPS ...) is a "candidate": its leading packets are remembered until its first slice
// shows whether it is an IDR, and if so the new GOP starts at its first packet. FFmpeg sends SPS+PPS as a
// STAP-A with the IDR's timestamp just before the IDR's first FU-A, so that STAP-A heads every GOP.

import {
  NAL,
  buildStapA,
  extractParameterSets,
  h264NalTypeMask,
  ownCopy,
  rtpPayloadOffset,
  rtpMarker,
  rtpSeq,
  rtpTimestamp,
} from '../../shared/h264.ts';

export interface GopCacheOptions {
  /** Most packets kept (the synthesized parameter-set packet included); default 1024. */
  maxPackets: number;
  /** Most bytes kept (whole RTP packets); default 4 MiB. */
  maxBytes: number;
}

const DEFAULTS: GopCacheOptions = { maxPackets: 1024, maxBytes: 4 * 1024 * 1024 };

const BIT_IDR = 1 << NAL.IDR;
const BIT_SPS = 1 << NAL.SPS;
const BIT_PPS = 1 << NAL.PPS;
/** Coded slice types 1..5: the first one in an access unit says whether it is an IDR. */
const BITS_VCL = 0b111110;

function bound(v: number | undefined, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 1 ? Math.floor(v) : fallback;
}

export class GopCache {
  private readonly maxPackets: number;
  private readonly maxBytes: number;

  /** The cached GOP; replaced (never emptied in place) when a GOP restarts, overflows or is cleared. */
  private pkts: Buffer[] = [];
  private size = 0;
  private keyTs: number | null = null;
  private overflowCount = 0;

  /** Last SPS / PPS units seen in the stream (own copies). */
  private sps: Buffer[] = [];
  private pps: Buffer[] = [];

  // The access unit being received.
  private auTs = -1;
  private prevMarker = true;
  /** A slice started in this access unit (so it is no longer a candidate). */
  private auSlice = false;
  /** This access unit already started a GOP (later IDR slices of the same picture must not restart it). */
  private auKey = false;
  private auSps = false;
  private auPps = false;
  /** Copies of the candidate access unit's leading non-VCL packets; shared with `pkts` while caching. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(opts: Partial<GopCacheOptions> = {}) {
    this.maxPackets = bound(opts?.maxPackets, DEFAULTS.maxPackets);
    this.maxBytes = bound(opts?.maxBytes, DEFAULTS.maxBytes);
  }

  /** RTP timestamp of the cached IDR; null while nothing is cached. */
  get keyframeTimestamp(): number | null {
    return this.keyTs;
  }

  /** Times the bounds were exceeded: then the cache is emptied until the next IDR. */
  get overflows(): number {
    return this.overflowCount;
  }

  /** Bytes of the cached packets. */
  get bytes(): number {
    return this.size;
  }

  /**
   * Every video RTP packet from FFmpeg, in arrival order. The cache COPIES what it keeps (the caller may
   * reuse its buffer). Packets with a malformed RTP header are ignored.
   */
  push(pkt: Buffer): void {
    if (rtpPayloadOffset(pkt) < 0) return;
    const ts = rtpTimestamp(pkt);
    if (ts !== this.auTs || this.prevMarker) this.newAccessUnit(ts);
    this.prevMarker = rtpMarker(pkt);

    const mask = h264NalTypeMask(pkt);
    if (mask & (BIT_SPS | BIT_PPS)) this.noteParameterSets(pkt, mask);

    if (mask & BIT_IDR && !this.auKey) {
      this.auSlice = true;
      this.startGop(pkt, ts);
      return;
    }

    let copy: Buffer | null = null;
    if (this.keyTs !== null) {
      copy = ownCopy(pkt);
      this.pkts.push(copy);
      this.size += copy.length;
    }
    if (mask & BITS_VCL) {
      this.auSlice = true;
      this.dropPending();
    } else if (!this.auSlice && !this.auKey && (mask !== 0 || this.pending.length > 0)) {
      // Leading non-VCL packet (or a continuation of a fragmented one): the IDR may follow.
      copy ??= ownCopy(pkt);
      this.pending.push(copy);
      this.pendingBytes += copy.length;
      if (this.pending.length > this.maxPackets || this.pendingBytes > this.maxBytes) this.dropPending();
    }
    if (this.keyTs !== null) this.checkBounds();
  }

  /**
   * The cached GOP: first the parameter sets, then the IDR access unit, then everything after, oldest
   * first. Empty until an IDR was seen (and while SPS/PPS were never seen). Returns the internal array,
   * no copy: push() appends to it; a restart, an overflow or clear() replaces it with a new array.
   */
  packets(): readonly Buffer[] {
    return this.pkts;
  }

  /** Forgets everything (the GOP, the parameter sets, the access unit in progress) but the overflow count. */
  clear(): void {
    this.reset();
    this.sps = [];
    this.pps = [];
    this.auTs = -1;
    this.prevMarker = true;
    this.auSlice = this.auKey = this.auSps = this.auPps = false;
    this.dropPending();
  }

  private newAccessUnit(ts: number): void {
    this.auTs = ts;
    this.auSlice = this.auKey = this.auSps = this.auPps = false;
    this.dropPending();
  }

  private dropPending(): void {
    if (this.pending.length > 0) this.pending = [];
    this.pendingBytes = 0;
  }

  private noteParameterSets(pkt: Buffer, mask: number): void {
    if (mask & BIT_SPS) this.auSps = true;
    if (mask & BIT_PPS) this.auPps = true;
    const { sps, pps } = extractParameterSets(pkt);
    if (sps.length > 0) this.sps = sps;
    if (pps.length > 0) this.pps = pps;
  }

  /** `pkt` starts the first IDR slice of the current access unit. */
  private startGop(pkt: Buffer, ts: number): void {
    this.auKey = true;
    const inBand = this.auSps && this.auPps;
    if (!inBand && (this.sps.length === 0 || this.pps.length === 0)) {
      // No parameter sets known at all: a viewer could not decode this GOP, so cache nothing.
      this.reset();
      this.dropPending();
      return;
    }
    const copy = ownCopy(pkt);
    const out: Buffer[] = [];
    if (!inBand) {
      const first = this.pending.length > 0 ? this.pending[0]! : copy;
      out.push(buildStapA(pkt, [...this.sps, ...this.pps], rtpSeq(first) - 1, ts));
    }
    for (const p of this.pending) out.push(p);
    out.push(copy);
    let size = 0;
    for (const p of out) size += p.length;
    this.pkts = out;
    this.size = size;
    this.keyTs = ts;
    this.dropPending();
    this.checkBounds();
  }

  private checkBounds(): void {
    if (this.pkts.length > this.maxPackets || this.size > this.maxBytes) {
      this.overflowCount++;
      this.reset();
    }
  }

  private reset(): void {
    this.pkts = [];
    this.size = 0;
    this.keyTs = null;
  }
}
