// One WHEP viewer: a werift RTCPeerConnection (ICE, DTLS, SRTP, RTCP) plus drake's send state:
// its own sequence numbers, the paced fast-join/keyframe burst, a NACK history of ~4 s, and PLI/FIR
// answered from the stream's GOP cache (FFmpeg ignores RTCP).
import { randomBytes } from 'node:crypto';
import {
  GenericNack,
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtcpPayloadSpecificFeedback,
  RtcpTransportLayerFeedback,
  RtpPacket,
  type RTCRtpSender,
  type RTCRtpTransceiver,
} from 'werift';
import { h264NalTypeMask, NAL, rtpTimestamp } from '../../shared/h264.ts';
import { Logger } from '../../shared/log.ts';
import type { StreamWebrtcSettings } from '../../shared/protocol.ts';
import type { BatchSend } from './BatchSend.ts';
import { RUN_AUDIO, RUN_PARAM, RUN_PARAMS, RUN_VIDEO } from '../../shared/srtp/index.ts';
import type { BurstBatch } from './BurstBatch.ts';
import { LeanSender, srtpContextsFor } from './LeanSender.ts';
import type { LiveStage } from './LiveStage.ts';
import { guardDtlsClients } from './dtlsClientGuard.ts';
import { forEachNacked } from './rtcpReader.ts';
import { ViewerRtcp } from './ViewerRtcp.ts';
import type { LiteViewer, UdpMux } from './UdpMux.ts';
import { editAnswer, parseOffer, pickH264, pickOpus, restartAnswerFrag, SdpError, type SdpFrag } from './sdp.ts';

const log = new Logger('PeerSession');

/** Power of two; ≈ 4 s of a 2 Mbit/s stream. */
const NACK_HISTORY = 1024;
/** Live packets that may queue behind a burst before the burst is abandoned. */
const MAX_QUEUE = 4096;
const PLI_MIN_INTERVAL_MS = 1000;
/** A packet is re-sent at most once per this interval (≈ a loopback-to-continent RTT); receivers repeat NACKs every few ms. */
const RESEND_GAP_MS = 100;
/**
 * Retransmits are earned by live video sent to the viewer: RESEND_SHARE of a packet each, saved up to
 * RESEND_BURST (a lost keyframe). A viewer that loses because it is overloaded NACKs most of the
 * stream; answering all of it would add that much again to the load it is losing under.
 */
const RESEND_SHARE = 0.2;
const RESEND_BURST = 150;
/**
 * Repair bursts (a GOP re-sent on PLI/FIR) are earned the same way: REPAIR_SHARE of a packet per live
 * video packet, saved up to REPAIR_SAVED. Whatever a viewer sends, repairs add at most a quarter of the
 * stream's video rate to its egress (retransmits at most another fifth).
 */
const REPAIR_SHARE = 0.25;
const REPAIR_SAVED = 600;
/** A new viewer may need a repair before it earned one: about one 720p GOP. */
const REPAIR_START = 300;
const KEYFRAME_START = (1 << NAL.IDR) | (1 << NAL.SPS);
const DISCONNECTED_GRACE_MS = 8000;

export class CodecMismatchError extends Error {}
export class GatheringTimeoutError extends Error {}

/** werift's ICE and DTLS states, for a connection that failed: which of the two gave up. */
export function transportStates(pc: RTCPeerConnection): string {
  return `ICE ${pc.iceConnectionState}, DTLS ${pc.dtlsTransports.map((t) => t.state).join('/') || 'none'}`;
}

export type IceOptions = StreamWebrtcSettings['ice'];

export interface PeerSessionOptions {
  id: string;
  offer: string;
  /** The process sends audio: an offer without Opus is refused. */
  hasAudio: boolean;
  ice: IceOptions;
  /** Returns the cached GOP (SPS/PPS first) to start or repair this viewer's picture. */
  keyframeBurst: () => readonly Buffer[];
  /**
   * drake: drake's send state on werift's sender.sendRtp. lean: the same, but the SRTP + send step is
   * drake's (native SRTP, reused contexts). werift: packets go to werift's own track/sender unchanged
   * (no burst, no PLI answer, werift's 128-packet NACK history) — the baseline benchmarks compare with.
   */
  sendPath: 'drake' | 'lean' | 'werift';
  /** lean only: ICE on the shard's shared UDP port, live packets sent in the shard's batches. */
  mux?: UdpMux;
  /** With `mux`: drake is an ICE-lite agent there (the mux answers the viewer's checks; no checks or consent timers of drake's own). */
  iceLite?: boolean;
  /** With mux: the shard's batch for burst packets and NACK answers (one sendmmsg per pacer tick or NACK). */
  burst?: BurstBatch;
  onClose: (session: PeerSession, reason: string) => void;
  /** A burst was queued: the shard's pacer calls drainBurst() until it is sent (bursts share one budget). */
  pace: (session: PeerSession) => void;
  /**
   * The viewer needs a keyframe (it joined, or its picture broke). A source that honours PLI (a WHIP
   * publisher) is asked for one; FFmpeg's legs ignore PLI, so processes leave this out.
   */
  keyframeWanted?: () => void;
}

export interface SessionCounters {
  videoPackets: number;
  audioPackets: number;
  bytes: number;
  nacks: number;
  retransmits: number;
  plis: number;
  bursts: number;
  burstDrops: number;
  /** NACKed packets not re-sent because the retransmit budget was spent. */
  resendsSkipped: number;
  /** PLI/FIR that got no burst: the viewer had the current keyframe and lost nothing since, or its repair budget was spent. */
  plisIgnored: number;
}

const h264Codec = () =>
  new RTCRtpCodecParameters({
    mimeType: 'video/H264',
    clockRate: 90000,
    rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
    parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  });
const opusCodec = () => new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 });

/**
 * parseOffer checks only what drake reads; werift's parser throws plain Errors and TypeErrors ("SDP does
 * not have enough properties", "mid not assigned", ...) on the rest. Those are the offer's fault: a 400.
 */
async function offerStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof Error && /negotiate codecs failed/.test(err.message)) throw err;
    throw new SdpError(err instanceof Error ? err.message : String(err));
  }
}

export class PeerSession {
  readonly id: string;
  readonly createdAt = Date.now();
  readonly counters: SessionCounters = { videoPackets: 0, audioPackets: 0, bytes: 0, nacks: 0, retransmits: 0, plis: 0, bursts: 0, burstDrops: 0, resendsSkipped: 0, plisIgnored: 0 };
  etag: string;
  readonly #pc: RTCPeerConnection;
  readonly #opts: PeerSessionOptions;
  #video: RTCRtpSender | null = null;
  #videoTrack: MediaStreamTrack | null = null;
  #audioTrack: MediaStreamTrack | null = null;
  #audio: RTCRtpSender | null = null;
  #videoSeq = randomBytes(2).readUInt16BE(0);
  #audioSeq = randomBytes(2).readUInt16BE(0);
  #lastVideoTs = -1;
  /** NACK history: the source packet and this viewer's seq/timestamp for it (re-sent byte-identical). */
  readonly #histPkt: Array<Buffer | undefined> = new Array(NACK_HISTORY);
  readonly #histSeq = new Int32Array(NACK_HISTORY).fill(-1);
  readonly #histTs = new Uint32Array(NACK_HISTORY);
  /** When each slot was last re-sent (ms): a NACK repeated within RESEND_GAP_MS does not send again. */
  readonly #histResentAt = new Float64Array(NACK_HISTORY);
  /** Retransmit budget (token bucket): NACK storms must not multiply the load they come from. */
  #resendTokens = RESEND_BURST;
  /** counters.videoPackets when the budget was last topped up. */
  #resendEarnedAt = 0;
  /** Native-SRTP senders (send_path lean), set once DTLS is up. */
  #leanVideo: LeanSender | null = null;
  #leanAudio: LeanSender | null = null;
  /** sendLive's header values for protectRun (RUN_PARAM), reused. */
  readonly #runParams = new Uint32Array(RUN_PARAMS);
  /** Shared port: the viewer's RTCP, read by drake instead of werift once SRTP keys exist. */
  #rtcpIn: ViewerRtcp | null = null;
  /** Reused by the RTCP fast path's NACK walk (one closure per session, not per NACK). */
  readonly #resendNow = (seq: number): void => this.#resend(seq, this.#nackAt);
  #nackAt = 0;
  /** Packets waiting behind a burst: [packet, timestamp override or -1]. */
  #queue: Array<[Buffer, number]> = [];
  #bursting = false;
  #lastPliAt = 0;
  /** A keyframe (SPS or IDR start) reached the viewer since it joined or since its picture broke. */
  #hasKeyframe = false;
  /** Video the viewer asked for and did not get again (beyond the history, or over budget) since its last keyframe. */
  #lostSinceKeyframe = false;
  /** Repair-burst budget in packets (see REPAIR_SHARE). */
  #repairTokens = REPAIR_START;
  #repairEarnedAt = 0;
  #connected = false;
  #closed = false;
  #disconnectTimer: NodeJS.Timeout | null = null;
  #remoteUfrag: string;
  /** When the viewer last sent RTCP about the video; 0 until it ever did. */
  #lastRtcpAt = 0;
  /** ICE-lite on the shared port: the mux's view of this viewer's checks. */
  #lite: LiteViewer | null = null;

  private constructor(opts: PeerSessionOptions, pc: RTCPeerConnection, remoteUfrag: string) {
    this.id = opts.id;
    this.#opts = opts;
    this.#pc = pc;
    this.#remoteUfrag = remoteUfrag;
    this.etag = newEtag();
  }

  /** Validates the offer, negotiates, gathers, and returns the session with its SDP answer. */
  static async create(opts: PeerSessionOptions): Promise<{ session: PeerSession; answer: string }> {
    const offer = parseOffer(opts.offer);
    const videoMedia = offer.media.find((m) => m.kind === 'video');
    const audioMedia = offer.media.find((m) => m.kind === 'audio');
    const h264 = pickH264(videoMedia);
    if (!h264) throw new CodecMismatchError('the offer has no H264 (packetization-mode=1) video: drake sends H264');
    const opus = pickOpus(audioMedia);
    if (opts.hasAudio && !opus) throw new CodecMismatchError('the offer has no Opus audio: this process sends Opus');
    if (videoMedia && !['recvonly', 'sendrecv'].includes(videoMedia.direction)) throw new SdpError('the video section must be recvonly');

    const lite = !!(opts.mux && opts.iceLite);
    const pc = new RTCPeerConnection({
      bundlePolicy: 'max-bundle',
      iceLite: lite,
      iceServers: opts.ice.iceServers,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: opts.ice.additionalHostAddresses,
      ...(opts.ice.interfaceAddress ? { iceInterfaceAddresses: { udp4: opts.ice.interfaceAddress } } : {}),
      ...(opts.mux ? { icePortRange: opts.mux.iceRange } : opts.ice.portRange ? { icePortRange: opts.ice.portRange } : {}),
      codecs: { video: [h264Codec()], audio: [opusCodec()] },
      headerExtensions: { video: [], audio: [] },
    });
    const session = new PeerSession(opts, pc, offer.iceUfrag);
    try {
      const videoTrack = new MediaStreamTrack({ kind: 'video' });
      const audioTrack = new MediaStreamTrack({ kind: 'audio' });
      const vt = pc.addTransceiver(videoTrack, { direction: 'sendonly' });
      const at = audioMedia ? pc.addTransceiver(audioTrack, { direction: 'sendonly' }) : null;
      // The offer's candidates stay: werift's parse of them is what rejects a malformed one (400). A lite
      // agent never checks them; the viewer's own checks tell the mux where it is.
      await offerStep(() => pc.setRemoteDescription({ type: 'offer', sdp: opts.offer }));
      guardDtlsClients(pc);
      if (opts.ice.iceServers.length === 0) dropDefaultStun(pc);
      // werift keeps every H264 variant of the offer; send on exactly the one drake chose.
      pinCodec(vt, h264.pt);
      if (at && opus) pinCodec(at, opus.pt);
      const answer = await offerStep(() => pc.createAnswer());
      if (opts.ice.iceServers.length === 0) dropDefaultStun(pc);
      // werift gathers inside setLocalDescription (a STUN server that never answers holds it there).
      await session.#withinGatheringTimeout(pc.setLocalDescription(answer).then(() => session.#gathered()));
      if (opts.mux) for (const t of pc.iceTransports) session.#lite ??= opts.mux.claim(t.connection, lite);
      session.#video = vt.sender;
      session.#audio = at && opts.hasAudio ? at.sender : null;
      session.#videoTrack = videoTrack;
      session.#audioTrack = session.#audio ? audioTrack : null;
      session.#wire();
      const sdp = editAnswer(pc.localDescription!.sdp, { streamId: `drake-${opts.id.slice(0, 8)}`, announceIps: opts.ice.announceIps });
      return { session, answer: sdp };
    } catch (err) {
      await session.close('setup failed');
      if (err instanceof Error && /negotiate codecs failed/.test(err.message)) throw new CodecMismatchError(err.message);
      throw err;
    }
  }

  async #withinGatheringTimeout(work: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = this.#opts.ice.gatheringTimeoutMs;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new GatheringTimeoutError(`ICE gathering did not complete within ${limit} ms`)), limit);
    });
    work.catch(() => undefined);
    try {
      await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #gathered(): Promise<void> {
    if (this.#pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise<void>((resolve) => {
      const sub = this.#pc.iceGatheringStateChange.subscribe((state) => {
        if (state !== 'complete') return;
        sub.unSubscribe();
        resolve();
      });
    });
  }

  #wire(): void {
    this.#pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') {
        if (this.#disconnectTimer) clearTimeout(this.#disconnectTimer);
        this.#disconnectTimer = null;
        if (!this.#connected) {
          this.#connected = true;
          if (this.#opts.sendPath === 'lean') this.#setupLean();
          if (this.#opts.sendPath !== 'werift') this.#startBurst(this.#opts.keyframeBurst(), 'join');
          this.#opts.keyframeWanted?.();
        }
      } else if (state === 'failed' || state === 'closed') {
        void this.close(`connection ${state} (${transportStates(this.#pc)})`);
      } else if (state === 'disconnected' && !this.#disconnectTimer) {
        this.#disconnectTimer = setTimeout(() => void this.close('connection lost (consent freshness)'), DISCONNECTED_GRACE_MS);
      }
    });
    this.#audio?.onRtcp.subscribe(() => {
      this.#lastRtcpAt = Date.now();
    });
    const video = this.#video;
    if (!video || this.#opts.sendPath === 'werift') return;
    video.onPictureLossIndication.subscribe(() => this.#onPli());
    video.onRtcp.subscribe((rtcp) => {
      if (rtcp.type === RtcpPayloadSpecificFeedback.type && (rtcp as RtcpPayloadSpecificFeedback).feedback.count === 4) this.#onPli();
    });
    // Answer NACKs from drake's own history (werift keeps only 128 packets).
    const original = video.handleRtcpPacket.bind(video);
    video.handleRtcpPacket = (packet) => {
      this.#lastRtcpAt = Date.now();
      if (packet.type === RtcpTransportLayerFeedback.type) {
        const fb = (packet as RtcpTransportLayerFeedback).feedback;
        if (fb instanceof GenericNack) {
          this.#onNack(fb.lost);
          return;
        }
      }
      original(packet);
    };
  }

  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  /** Whether ICE and DTLS ever completed (a session that never did is worth telling the operator). */
  get everConnected(): boolean {
    return this.#connected;
  }

  get bursting(): boolean {
    return this.#bursting;
  }

  /** The viewer's address as ICE selected it ('' until connected). */
  get remoteAddress(): string {
    const pair = this.#pc.iceTransports[0]?.connection.nominated;
    return pair ? `${pair.remoteCandidate.host}:${pair.remoteCandidate.port}` : '';
  }

  /** ms since the viewer's last RTCP, or 0 for one that never sent any (consent freshness covers those). */
  silentFor(now: number): number {
    const last = Math.max(this.#lastRtcpAt, this.#rtcpIn?.lastAt ?? 0);
    return last ? now - last : 0;
  }

  /** What the viewer's receiver reports say (shared port only; null elsewhere or before any report). */
  get reception(): { rttMs: number; fractionLost: number } | null {
    const r = this.#rtcpIn;
    return r && r.fractionLost >= 0 ? { rttMs: r.rttMs, fractionLost: r.fractionLost } : null;
  }

  /** SRTCP datagrams the fast path read and dropped (shared port), 0 elsewhere. */
  get rtcpCounters(): { packets: number; dropped: number } {
    return this.#rtcpIn?.counters ?? { packets: 0, dropped: 0 };
  }

  /**
   * ICE-lite: ms since the viewer's last authenticated ICE check (since the session started if none
   * came). drake sends no consent checks as a lite agent, so the viewer's own (RFC 7675: every ~5 s)
   * are what shows it is still there. 0 with full ICE: werift's consent checks judge that.
   */
  checksSilentFor(now: number): number {
    return this.#lite ? now - this.#lite.lastCheckAt : 0;
  }

  /** drake answers this viewer's ICE checks as a lite agent (the answer says a=ice-lite). */
  get iceLite(): boolean {
    return this.#lite !== null;
  }

  get remoteUfrag(): string {
    return this.#remoteUfrag;
  }

  /**
   * Live video: sent at once or staged into `batch` (true), or queued behind a burst in progress / not
   * sent (false). A staged packet leaves with the shard's flush of that batch; `live` (the shard's coalesced
   * live batch on the shared port) takes it protected, to leave with the shard's live flush.
   */
  sendVideo(pkt: Buffer, batch: BatchSend | null = null, live: BurstBatch | null = null): boolean {
    if (!this.#connected || this.#closed || !this.#video) return false;
    if (this.#opts.sendPath === 'werift') {
      this.counters.videoPackets++;
      this.counters.bytes += pkt.length;
      this.#videoTrack!.writeRtp(pkt);
      return true;
    }
    if (this.#bursting) {
      if (this.#queue.length >= MAX_QUEUE) {
        this.counters.burstDrops++;
        this.#stopBurst();
        // Packets were dropped mid-picture: the next PLI deserves a keyframe.
        this.#lostSinceKeyframe = true;
        return false;
      }
      this.#queue.push([pkt, -1]);
      return false;
    }
    this.#writeVideo(pkt, -1, batch, live);
    return true;
  }

  /** true when the packet was handed to the viewer's socket or staged into `batch`. */
  sendAudio(pkt: Buffer, batch: BatchSend | null = null, live: BurstBatch | null = null): boolean {
    if (!this.#connected || this.#closed || !this.#audio) return false;
    if (this.#opts.sendPath === 'werift') {
      this.counters.audioPackets++;
      this.counters.bytes += pkt.length;
      this.#audioTrack!.writeRtp(pkt);
      return true;
    }
    const seq = this.#audioSeq;
    this.#audioSeq = (seq + 1) & 0xffff;
    this.counters.audioPackets++;
    this.counters.bytes += pkt.length;
    if (this.#leanAudio) {
      const ts = rtpTimestamp(pkt);
      if (live) this.#leanAudio.sendInBurst(pkt, seq, ts, live);
      else this.#leanAudio.send(pkt, seq, ts, batch);
      return true;
    }
    const rtp = RtpPacket.deSerialize(pkt);
    rtp.header.sequenceNumber = seq;
    void this.#audio.sendRtp(rtp).catch(() => undefined);
    return true;
  }

  /**
   * The viewer's share of a staged live flush (shared port): its video (unless a burst is in progress, which the
   * video then queues behind) and its audio, protected into `live` in one native call, the NACK history and
   * counters kept as sendVideo/sendAudio keep them. A viewer that cannot take the run way (no lean senders yet,
   * no pair to address, a burst in progress) gets the packets one by one as before. Returns RUN_VIDEO / RUN_AUDIO
   * bits for the kinds whose every packet went out.
   */
  sendLive(stage: LiveStage, live: BurstBatch): number {
    if (!this.#connected || this.#closed) return 0;
    const lv = this.#leanVideo;
    const la = this.#leanAudio;
    const dest = lv && !this.#bursting && (la || !this.#audio) ? lv.destination() : null;
    if (!lv || !dest) return this.#sendLiveEach(stage, live);
    const p = this.#runParams;
    let mask = 0;
    if (this.#video && stage.videoCount > 0) {
      mask |= RUN_VIDEO;
      const kinds = stage.kinds;
      let seq = this.#videoSeq;
      p[RUN_PARAM.VIDEO_SEQ] = seq;
      p[RUN_PARAM.VIDEO_SSRC] = lv.ssrc;
      p[RUN_PARAM.VIDEO_PT] = lv.payloadType;
      for (let i = 0; i < stage.count; i++) {
        if (kinds[i] !== 0) continue;
        const slot = seq & (NACK_HISTORY - 1);
        this.#histPkt[slot] = stage.pkts[i]!;
        this.#histSeq[slot] = seq;
        this.#histTs[slot] = stage.timestamps[i]!;
        this.#histResentAt[slot] = 0;
        if (stage.keyStarts[i]) {
          this.#hasKeyframe = true;
          this.#lostSinceKeyframe = false;
        }
        seq = (seq + 1) & 0xffff;
      }
      this.#videoSeq = seq;
      this.#lastVideoTs = stage.lastVideoTs;
      this.counters.videoPackets += stage.videoCount;
      this.counters.bytes += stage.videoOctets + 12 * stage.videoCount;
      lv.accountRun(stage.videoCount, stage.videoOctets, stage.lastVideoTs);
    }
    if (la && stage.audioCount > 0) {
      mask |= RUN_AUDIO;
      p[RUN_PARAM.AUDIO_SEQ] = this.#audioSeq;
      p[RUN_PARAM.AUDIO_SSRC] = la.ssrc;
      p[RUN_PARAM.AUDIO_PT] = la.payloadType;
      this.#audioSeq = (this.#audioSeq + stage.audioCount) & 0xffff;
      this.counters.audioPackets += stage.audioCount;
      this.counters.bytes += stage.audioOctets + 12 * stage.audioCount;
      la.accountRun(stage.audioCount, stage.audioOctets, stage.lastAudioTs);
    }
    if (mask !== 0) live.addRun(lv.context, stage, mask, p, dest);
    return mask;
  }

  #sendLiveEach(stage: LiveStage, live: BurstBatch): number {
    const { kinds, pkts, count } = stage;
    let video = stage.videoCount > 0;
    let audio = stage.audioCount > 0;
    for (let i = 0; i < count; i++) if (kinds[i] === 0 && !this.sendVideo(pkts[i]!, null, live)) video = false;
    for (let i = 0; i < count; i++) if (kinds[i] === 1 && !this.sendAudio(pkts[i]!, null, live)) audio = false;
    return (video ? RUN_VIDEO : 0) | (audio ? RUN_AUDIO : 0);
  }

  /** `batch`: a live packet staged for the shard's fan-out flush; `burst`: a burst packet for the pacer tick's flush. */
  #writeVideo(pkt: Buffer, tsOverride: number, batch: BatchSend | null = null, burst: BurstBatch | null = null): void {
    const seq = this.#videoSeq;
    const ts = tsOverride >= 0 ? tsOverride : rtpTimestamp(pkt);
    this.#videoSeq = (seq + 1) & 0xffff;
    this.#lastVideoTs = ts;
    const slot = seq & (NACK_HISTORY - 1);
    this.#histPkt[slot] = pkt;
    this.#histSeq[slot] = seq;
    this.#histTs[slot] = ts;
    this.#histResentAt[slot] = 0;
    if (h264NalTypeMask(pkt) & KEYFRAME_START) {
      this.#hasKeyframe = true;
      this.#lostSinceKeyframe = false;
    }
    this.counters.videoPackets++;
    this.counters.bytes += pkt.length;
    this.#sendVideoAs(pkt, seq, ts, batch, burst);
  }

  #sendVideoAs(pkt: Buffer, seq: number, ts: number, batch: BatchSend | null = null, burst: BurstBatch | null = null): void {
    if (this.#leanVideo) {
      if (burst) this.#leanVideo.sendInBurst(pkt, seq, ts, burst);
      else this.#leanVideo.send(pkt, seq, ts, batch);
      return;
    }
    const rtp = RtpPacket.deSerialize(pkt);
    rtp.header.sequenceNumber = seq;
    rtp.header.timestamp = ts;
    void this.#video!.sendRtp(rtp).catch(() => undefined);
  }

  /**
   * lean: SRTP keys from werift's DTLS, one native context for the viewer's bundle. On the shared port
   * the viewer's SRTCP then bypasses werift (ViewerRtcp); werift keeps ICE, DTLS and sending SRs.
   */
  #setupLean(): void {
    const ctx = this.#video ? srtpContextsFor(this.#video) : null;
    if (!ctx || !this.#video) {
      log.warn(`session ${this.id}: no SRTP keys from DTLS, staying on werift's sender`);
      return;
    }
    const mux = this.#opts.mux;
    const socket = mux?.socket ?? null;
    this.#leanVideo = new LeanSender(this.#video, ctx.send, socket);
    this.#leanAudio = this.#audio ? new LeanSender(this.#audio, ctx.send, socket) : null;
    if (mux) {
      this.#rtcpIn = new ViewerRtcp(ctx.receive, this.#leanVideo, {
        keyframeRequest: () => this.#onPli(),
        nack: (buf, from, end) => {
          this.#nackAt = this.#nackStart();
          forEachNacked(buf, from, end, this.#resendNow);
          // The answers to one NACK leave together (often a run to this viewer: one GSO train).
          this.#opts.burst?.flush();
        },
      });
      for (const t of this.#pc.iceTransports) mux.takeRtcp(t.connection, this.#rtcpIn.receive);
    }
  }

  /**
   * Sends a GOP ahead of live packets, paced. Its frames get timestamps squeezed just before the
   * live ones (1 tick apart) so the receiver decodes up to the current picture at once instead of
   * replaying the GOP in real time.
   */
  #startBurst(packets: readonly Buffer[], why: 'join' | 'pli'): void {
    if (packets.length === 0 || this.#closed) return;
    const frames: number[] = [];
    for (const p of packets) {
      const ts = rtpTimestamp(p);
      if (frames[frames.length - 1] !== ts) frames.push(ts);
    }
    const newest = frames[frames.length - 1]!;
    // For a join the last cached frame keeps its timestamp; a repair goes after what was sent.
    const base = why === 'join' || this.#lastVideoTs < 0 ? (newest - frames.length + 1) >>> 0 : (this.#lastVideoTs + 1) >>> 0;
    const burst: Array<[Buffer, number]> = [];
    let frame = -1;
    let prevTs = -1;
    for (const p of packets) {
      const ts = rtpTimestamp(p);
      if (ts !== prevTs) {
        frame++;
        prevTs = ts;
      }
      burst.push([p, (base + frame) >>> 0]);
    }
    this.#queue = burst.concat(this.#queue);
    this.counters.bursts++;
    if (!this.#bursting) {
      this.#bursting = true;
      this.#opts.pace(this);
    }
  }

  /** lean: an RTCP sender report per medium (the shard calls this every second; werift's own SR timers never start). */
  sendReports(): void {
    if (this.#closed || !this.#connected) return;
    this.#leanVideo?.senderReport();
    this.#leanAudio?.senderReport();
  }

  /**
   * Sends up to `max` queued burst packets (then live ones that queued behind them); returns how many. With
   * `burst` (the shard's, shared port) they are protected into it and leave with the pacer tick's flush.
   */
  drainBurst(max: number, burst: BurstBatch | null = null): number {
    if (this.#closed) {
      this.#stopBurst();
      return 0;
    }
    const n = Math.min(max, this.#queue.length);
    for (let i = 0; i < n; i++) {
      const [pkt, ts] = this.#queue[i]!;
      this.#writeVideo(pkt, ts, null, burst);
    }
    this.#queue.splice(0, n);
    if (this.#queue.length === 0) this.#stopBurst();
    return n;
  }

  #stopBurst(): void {
    this.#bursting = false;
    this.#queue = [];
  }

  /**
   * A PLI/FIR gets the GOP again only when that helps: the viewer has not had a keyframe yet, or lost
   * video it could not get back since its last one. libwebrtc sends PLI several times a second when it
   * cannot decode for other reasons; answering each with a GOP doubled such viewers' egress.
   */
  #onPli(): void {
    this.counters.plis++;
    // Only a picture that is really broken asks the source (libwebrtc repeats PLIs it does not need).
    if (!this.#hasKeyframe || this.#lostSinceKeyframe) this.#opts.keyframeWanted?.();
    const now = Date.now();
    if (this.#bursting || now - this.#lastPliAt < PLI_MIN_INTERVAL_MS) return;
    if (this.#hasKeyframe && !this.#lostSinceKeyframe) {
      this.counters.plisIgnored++;
      return;
    }
    const sent = this.counters.videoPackets;
    this.#repairTokens = Math.min(REPAIR_SAVED, this.#repairTokens + (sent - this.#repairEarnedAt) * REPAIR_SHARE);
    this.#repairEarnedAt = sent;
    const burst = this.#opts.keyframeBurst();
    // Before its first keyframe a viewer shows nothing at all: that repair is not budgeted.
    if (this.#hasKeyframe && burst.length > this.#repairTokens) {
      this.counters.plisIgnored++;
      return;
    }
    if (this.#hasKeyframe) this.#repairTokens -= burst.length;
    this.#lastPliAt = now;
    this.#startBurst(burst, 'pli');
  }

  #onNack(lost: number[]): void {
    const now = this.#nackStart();
    for (const seq of lost) this.#resend(seq, now);
    this.#opts.burst?.flush();
  }

  /** Counts a NACK and tops up the retransmit budget; returns the time its resends are stamped with. */
  #nackStart(): number {
    this.counters.nacks++;
    const sent = this.counters.videoPackets;
    this.#resendTokens = Math.min(RESEND_BURST, this.#resendTokens + (sent - this.#resendEarnedAt) * RESEND_SHARE);
    this.#resendEarnedAt = sent;
    return Date.now();
  }

  #resend(seq: number, now: number): void {
    const slot = seq & (NACK_HISTORY - 1);
    const pkt = this.#histPkt[slot];
    if (!pkt || this.#histSeq[slot] !== seq) {
      this.#lostSinceKeyframe = true;
      return;
    }
    if (now - this.#histResentAt[slot]! < RESEND_GAP_MS) return;
    if (this.#resendTokens < 1) {
      this.counters.resendsSkipped++;
      this.#lostSinceKeyframe = true;
      return;
    }
    this.#resendTokens--;
    this.#histResentAt[slot] = now;
    this.counters.retransmits++;
    // Same seq and timestamp: SRTP gives the same bytes; a receiver that got the first copy drops this one.
    this.#sendVideoAs(pkt, seq, this.#histTs[slot]!, null, this.#opts.burst ?? null);
  }

  /** Trickled candidates; answered before werift resolves them (mDNS lookups can take seconds). */
  addCandidates(frag: SdpFrag): void {
    if (this.#lite) return; // a lite agent learns addresses from the viewer's checks only
    for (const c of frag.candidates) {
      // werift nominates a pair only if its remote candidate's generation equals its own restart count;
      // browsers write "generation 0" on every candidate, also after an ICE restart. Without the field
      // werift takes the candidate for the current generation (the ufrag check is done by the route).
      const candidate = c.candidate.replace(/ generation \d+/, '');
      void this.#pc.addIceCandidate({ candidate, sdpMid: c.mid ?? '0' }).catch((err: unknown) => {
        log.debug(`session ${this.id}: candidate ignored: ${String(err)}`);
      });
    }
  }

  /** ICE restart: the viewer sent new credentials; returns drake's new ones as an sdpfrag. */
  async restartIce(frag: SdpFrag): Promise<string> {
    const remote = this.#pc.remoteDescription;
    if (!remote || !frag.ufrag || !frag.pwd) throw new SdpError('ICE restart needs a=ice-ufrag and a=ice-pwd');
    // The previous offer with the new credentials and none of its candidates: they belong to the old
    // generation, and its end-of-candidates would make werift drop the new ones added below.
    const offer = withoutCandidates(remote.sdp.replace(/a=ice-ufrag:\S+/g, `a=ice-ufrag:${frag.ufrag}`).replace(/a=ice-pwd:\S+/g, `a=ice-pwd:${frag.pwd}`));
    this.#pc.restartIce();
    await this.#pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const answer = await this.#pc.createAnswer();
    await this.#withinGatheringTimeout(this.#pc.setLocalDescription(answer).then(() => this.#gathered()));
    for (const t of this.#pc.iceTransports) void t.start().catch(() => undefined);
    this.addCandidates(frag);
    this.#remoteUfrag = frag.ufrag;
    this.etag = newEtag();
    // The client replaces every remote candidate with what this answer lists (draft: after a restart
    // both sides discard candidates not in the new set), so it carries the full list.
    return restartAnswerFrag(editAnswer(this.#pc.localDescription!.sdp, { streamId: 'restart', announceIps: this.#opts.ice.announceIps }));
  }

  /** Idempotent; tells the owner once. */
  async close(reason: string): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopBurst();
    if (this.#opts.mux && this.#rtcpIn) for (const t of this.#pc.iceTransports) this.#opts.mux.takeRtcp(t.connection, null);
    if (this.#disconnectTimer) clearTimeout(this.#disconnectTimer);
    this.#histPkt.fill(undefined);
    this.#opts.onClose(this, reason);
    await this.#pc.close().catch(() => undefined);
  }
}

/**
 * werift falls back to stun.l.google.com:19302 when no STUN server is configured: every join would
 * query Google (or, offline, wait out a 5 s timeout). With no ICE servers configured drake asks none.
 */
export function dropDefaultStun(pc: RTCPeerConnection): void {
  for (const t of pc.iceTransports) (t.connection as unknown as { stunServer?: unknown }).stunServer = undefined;
}

function pinCodec(t: RTCRtpTransceiver, pt: number): void {
  const chosen = t.codecs.filter((c) => c.payloadType === pt);
  if (chosen.length === 0) return;
  t.codecs = chosen;
  t.sender.codec = chosen[0];
}

function newEtag(): string {
  return `"${randomBytes(8).toString('hex')}"`;
}

/** The SDP without its a=candidate / a=end-of-candidates lines. */
function withoutCandidates(sdp: string): string {
  return sdp.replace(/^a=(candidate:.*|end-of-candidates)\r?\n/gm, '');
}
