// The receive half of a shared-port viewer's RTCP, instead of werift's: the mux hands each SRTCP datagram
// here, it is unprotected by the SRTP addon with a context kept for the session, walked in place by
// rtcpReader, and only what drake acts on reaches the session (NACK and PLI/FIR about its video, report
// blocks for loss and round-trip time). werift would decrypt with a new cipher per packet, build objects
// for every part of the compound and emit them through several observers, per viewer.
import { unprotectRtcp, type SrtpContext } from '../../shared/srtp/index.ts';
import { readRtcp, type RtcpSink } from './rtcpReader.ts';

const MTU = 1500;
const RTT_ALPHA = 0.85;

/** What the session is asked to do. */
export interface ViewerRtcpTarget {
  keyframeRequest(): void;
  /** A NACK about the video: FCI words in buf[from, end) (see forEachNacked). */
  nack(buf: Buffer, from: number, end: number): void;
}

/** The video sender: its SSRC and when its last SR went out (for RTT from LSR/DLSR). */
export interface SrClock {
  readonly ssrc: number;
  /** The middle 32 bits of the last SR's NTP timestamp (what a receiver echoes as LSR). */
  readonly lastSRtimestamp: number;
  /** When that SR was sent, in seconds (Unix). */
  readonly lastSentSRTimestamp: number;
}

export interface ViewerRtcpCounters {
  /** SRTCP datagrams unprotected and read. */
  packets: number;
  /** Datagrams dropped: authentication failed, a replay, or not RTCP inside. */
  dropped: number;
}

export class ViewerRtcp implements RtcpSink {
  readonly counters: ViewerRtcpCounters = { packets: 0, dropped: 0 };
  /** When the last authentic RTCP arrived (ms), 0 before any. */
  lastAt = 0;
  /** The viewer's last fraction-lost report about the video (0–1), -1 before any. */
  fractionLost = -1;
  /** Smoothed round-trip time in ms from the viewer's reports about the video, -1 before any. */
  rttMs = -1;
  readonly #ctx: SrtpContext;
  readonly #video: SrClock;
  readonly #target: ViewerRtcpTarget;
  readonly #plain = Buffer.allocUnsafe(MTU);
  /** Arrival time of the datagram being read (ms since the epoch). */
  #at = 0;

  constructor(ctx: SrtpContext, video: SrClock, target: ViewerRtcpTarget) {
    this.#ctx = ctx;
    this.#video = video;
    this.#target = target;
  }

  /**
   * One SRTCP datagram from the viewer that reached the port at `at` (ms since the epoch; the mux calls this,
   * never throws on bad input). With paced reads it is read up to a flush interval later: reports are timed by
   * `at`, not by when they are read.
   */
  receive = (data: Buffer, at: number = Date.now()): void => {
    if (data.length > MTU + 64) {
      this.counters.dropped++;
      return;
    }
    const n = unprotectRtcp(this.#ctx, data, this.#plain);
    this.#at = at;
    if (n < 0 || readRtcp(this.#plain, n, this) < 0) {
      this.counters.dropped++;
      return;
    }
    this.counters.packets++;
    this.lastAt = at;
  };

  report(ssrc: number, fractionLost: number, lsr: number, dlsr: number): void {
    const v = this.#video;
    if (ssrc !== v.ssrc) return;
    this.fractionLost = fractionLost / 256;
    // Only against the SR sent last, whose send time is kept (an RR echoing an older one is skipped).
    if (lsr === 0 || lsr !== v.lastSRtimestamp || !v.lastSentSRTimestamp) return;
    // The arrival on the clock the sender reports are stamped with (performance.timeOrigin + performance.now()):
    // the wall-clock age of the stamp applied to it, so a step of the wall clock does not land in the RTT.
    const arrived = performance.timeOrigin + performance.now() - Math.max(0, Date.now() - this.#at);
    const rtt = (arrived / 1000 - v.lastSentSRTimestamp - dlsr / 65536) * 1000;
    if (rtt < 0 || rtt > 60_000) return;
    this.rttMs = this.rttMs < 0 ? rtt : RTT_ALPHA * this.rttMs + (1 - RTT_ALPHA) * rtt;
  }

  nack(mediaSsrc: number, buf: Buffer, from: number, end: number): void {
    if (mediaSsrc === this.#video.ssrc) this.#target.nack(buf, from, end);
  }

  keyframeRequest(mediaSsrc: number): void {
    if (mediaSsrc === this.#video.ssrc) this.#target.keyframeRequest();
  }
}
