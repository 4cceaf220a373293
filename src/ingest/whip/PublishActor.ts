// One WHIP publication, on its own worker thread: the publisher's werift peer (receive only), the packet
// ring its RTP goes into, the WHEP viewers of the stream (a peer shard with its GOP cache) and the local
// RTP forwards of the processes that read it. The path to viewers has no FFmpeg: the publisher's RTP,
// decrypted by werift, is rewritten once (plain 12-byte header, drake's payload types) and fanned out.
import { randomBytes } from 'node:crypto';
import { RTCPeerConnection, RTCRtpCodecParameters, type RTCRtpTransceiver, type RtpPacket, useSdesMid } from 'werift';
import { ConflictError, NotAcceptableError, NotFoundError, NotReadyError, PreconditionFailedError, PreconditionRequiredError, TimeoutError, ValidationError } from '../../shared/errors.ts';
import { extractParameterSets, rtpSeq } from '../../shared/h264.ts';
import { Logger } from '../../shared/log.ts';
import type { PublishEvent, PublishInit, WhepCreatedDto, WhepPatchedDto, WhepSessionDto, WhepStatsDto, WhipPublishedDto, WhipPublisherDto } from '../../shared/protocol.ts';
import { PacketRing, type MediaKind } from '../../shared/ring.ts';
import { guardDtlsClients } from '../../actors/peer/dtlsClientGuard.ts';
import { dropDefaultStun, transportStates } from '../../actors/peer/PeerSession.ts';
import { ifMatchAllows, PeerShard } from '../../actors/peer/PeerShard.ts';
import { parseSdpFrag, SdpError, type OfferCodec } from '../../actors/peer/sdp.ts';
import { checkWhipOffer } from './offer.ts';
import { AUDIO_PT, VIDEO_PT } from '../../actors/stream/webrtcOutputs.ts';
import { RtpForward } from './RtpForward.ts';
import { readerSdp } from './readerSdp.ts';

const log = new Logger('whip');

/** PLIs to the publisher: at most one per this interval, however many viewers and readers ask. */
const PLI_MIN_INTERVAL_MS = 500;
/** A publisher whose ICE is 'disconnected' this long is gone (werift's consent checks say so). */
const DISCONNECTED_GRACE_MS = 5000;
/** A publisher that never connects within this long after its POST is gone. */
const CONNECT_TIMEOUT_MS = 20_000;
/** New viewers wait for this: no media this recent, no viewer (they would get a black picture). */
const MEDIA_FRESH_MS = 3000;

interface MediaCounters {
  packets: number;
  bytes: number;
  lastAt: number;
}

export class PublishActor {
  readonly #init: PublishInit;
  readonly #emit: (event: PublishEvent) => void;
  readonly #ring = PacketRing.create();
  readonly #forward = new RtpForward();
  readonly #shard: PeerShard;
  readonly #since = Date.now();
  readonly #counters: Record<MediaKind, MediaCounters> = { video: { packets: 0, bytes: 0, lastAt: 0 }, audio: { packets: 0, bytes: 0, lastAt: 0 } };
  /** Reused for every ring write (the ring copies what it needs). */
  readonly #meta = { seq: 0, timestamp: 0, arrivedAt: 0, kind: 'video' as MediaKind, keyframeStart: false, marker: false };
  #pc: RTCPeerConnection | null = null;
  #videoTransceiver: RTCRtpTransceiver | null = null;
  #videoSsrc = 0;
  #codecs: { video: string | null; audio: string | null } = { video: null, audio: null };
  #etag = newEtag();
  #remoteUfrag = '';
  #connected = false;
  #ended = false;
  #lastPliAt = 0;
  #plisSent = 0;
  #disconnectTimer: NodeJS.Timeout | null = null;
  readonly #ticker: NodeJS.Timeout;
  /** The last SPS/PPS the publisher sent in band, for the SDP of process readers (sprop-parameter-sets). */
  #paramSets: { sps: Buffer; pps: Buffer } | null = null;

  constructor(init: PublishInit, emit: (event: PublishEvent) => void) {
    this.#init = init;
    this.#emit = emit;
    this.#shard = new PeerShard(init.webrtc, {
      onCount: (viewers) => this.#emit({ event: 'publish.viewers', viewers }),
      onKeyframeWanted: () => this.requestKeyframe(),
    });
    this.#ticker = setInterval(() => this.#tick(), 1000);
  }

  /** The publisher's SDP offer → drake's answer (non-trickle: every candidate is in it). */
  async publish(offer: string): Promise<WhipPublishedDto> {
    if (this.#pc || this.#ended) throw new ConflictError(`stream ${this.#init.name} already has a publisher`);
    const { parsed, h264, opus } = checkWhipOffer(offer);
    const ice = this.#init.webrtc.ice;
    const pc = new RTCPeerConnection({
      bundlePolicy: 'max-bundle',
      iceServers: ice.iceServers,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ice.additionalHostAddresses,
      ...(ice.interfaceAddress ? { iceInterfaceAddresses: { udp4: ice.interfaceAddress } } : {}),
      ...(ice.portRange ? { icePortRange: ice.portRange } : {}),
      codecs: { video: [codecOf('video/H264', h264)], audio: opus ? [codecOf('audio/opus', opus)] : [] },
      // mid for BUNDLE demux. No transport-cc: werift's feedback is cut short on the wire (its RTCP length
      // drops the last deltas) and stamped with event-loop arrival times, and Chromium's delay-based
      // estimator then held a loopback publisher at 30–440 kbit/s and 320–960 px. Without it Chromium's
      // loss-based estimate ramps up steadily (1.8 Mbit/s target, 1280 px, 24 s after the start, on loopback).
      // No abs-send-time either: drake has no receive-side estimator (REMB) that would read it.
      headerExtensions: { video: [useSdesMid()], audio: [useSdesMid()] },
    });
    this.#pc = pc;
    this.#remoteUfrag = parsed.iceUfrag;
    this.#codecs = { video: `H264 ${h264.fmtp['profile-level-id'] ?? ''}`.trim(), audio: opus ? 'opus' : null };
    try {
      pc.onRemoteTransceiverAdded.subscribe((t) => this.#wireTransceiver(t));
      await offerStep(() => pc.setRemoteDescription({ type: 'offer', sdp: offer }));
      // drake is the DTLS client here too.
      guardDtlsClients(pc);
      if (ice.iceServers.length === 0) dropDefaultStun(pc);
      for (const t of pc.getTransceivers()) {
        // werift keeps every H264 variant of the offer: receive exactly the one drake picked.
        const pt = t.kind === 'video' ? h264.pt : (opus?.pt ?? -1);
        const chosen = t.codecs.filter((c) => c.payloadType === pt);
        if (chosen.length) t.codecs = chosen;
      }
      const answer = await offerStep(() => pc.createAnswer());
      if (ice.iceServers.length === 0) dropDefaultStun(pc);
      await withinTimeout(pc.setLocalDescription(answer).then(() => gathered(pc)), ice.gatheringTimeoutMs);
      pc.connectionStateChange.subscribe((state) => this.#onConnectionState(state));
      return { answer: pc.localDescription!.sdp, etag: this.#etag };
    } catch (err) {
      await this.close('publisher setup failed');
      if (err instanceof SdpError) throw new ValidationError(`malformed SDP offer: ${err.message}`);
      if (err instanceof Error && /negotiate codecs failed/.test(err.message)) throw new NotAcceptableError(err.message);
      throw err;
    }
  }

  #wireTransceiver(t: RTCRtpTransceiver): void {
    const kind: MediaKind = t.kind === 'video' ? 'video' : 'audio';
    if (kind === 'video') this.#videoTransceiver = t;
    t.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => this.#onRtp(kind, rtp));
    });
  }

  /**
   * Once per packet: a plain RTP header (no extensions, no CSRC, no padding: what FFmpeg's legs look
   * like, so the send path needs no other case) with drake's payload type, then ring, viewers, readers.
   */
  #onRtp(kind: MediaKind, rtp: RtpPacket): void {
    if (this.#ended) return;
    const payload = rtp.payload;
    if (payload.length === 0) return; // padding-only probes
    const h = rtp.header;
    if (kind === 'video') this.#videoSsrc = h.ssrc;
    const pkt = Buffer.allocUnsafe(12 + payload.length);
    pkt[0] = 0x80;
    pkt[1] = (h.marker ? 0x80 : 0) | (kind === 'video' ? VIDEO_PT : AUDIO_PT);
    pkt.writeUInt16BE(h.sequenceNumber, 2);
    pkt.writeUInt32BE(h.timestamp >>> 0, 4);
    pkt.writeUInt32BE(h.ssrc >>> 0, 8);
    payload.copy(pkt, 12);
    const now = performance.now();
    const c = this.#counters[kind];
    c.packets++;
    c.bytes += pkt.length;
    c.lastAt = Date.now();
    const meta = this.#meta;
    meta.seq = rtpSeq(pkt);
    meta.timestamp = h.timestamp >>> 0;
    meta.arrivedAt = performance.timeOrigin + now;
    meta.kind = kind;
    meta.marker = h.marker;
    this.#ring.write(pkt, meta);
    this.#ring.notify();
    if (kind === 'video') {
      this.#noteParameterSets(pkt);
      this.#shard.video(pkt, now);
    } else {
      this.#shard.audio(pkt, now);
    }
    this.#forward.send(kind, pkt);
  }

  #noteParameterSets(pkt: Buffer): void {
    // Cheap test first: STAP-A (24) or a single SPS (7) starts the payload.
    const t = pkt[12]! & 0x1f;
    if (t !== 24 && t !== 7) return;
    const { sps, pps } = extractParameterSets(pkt);
    if (sps[0] && pps[0]) this.#paramSets = { sps: sps[0], pps: pps[0] };
  }

  /** Asks the publisher for a keyframe (viewer join or PLI, a new process reader); rate-limited. */
  requestKeyframe(): void {
    const t = this.#videoTransceiver;
    const now = Date.now();
    if (!t || !this.#connected || this.#ended || !this.#videoSsrc || now - this.#lastPliAt < PLI_MIN_INTERVAL_MS) return;
    this.#lastPliAt = now;
    this.#plisSent++;
    void t.receiver.sendRtcpPLI(this.#videoSsrc).catch(() => undefined);
  }

  #onConnectionState(state: string): void {
    if (state === 'connected') {
      if (this.#disconnectTimer) clearTimeout(this.#disconnectTimer);
      this.#disconnectTimer = null;
      if (!this.#connected) log.info(`${this.#init.name}: publisher connected`);
      this.#connected = true;
    } else if (state === 'failed' || state === 'closed') {
      void this.close(`publisher connection ${state}${this.#pc ? ` (${transportStates(this.#pc)})` : ''}`);
    } else if (state === 'disconnected' && !this.#disconnectTimer) {
      this.#disconnectTimer = setTimeout(() => void this.close('publisher lost (ICE consent freshness)'), DISCONNECTED_GRACE_MS);
    }
  }

  #tick(): void {
    if (this.#ended) return;
    const now = Date.now();
    if (!this.#connected && now - this.#since > CONNECT_TIMEOUT_MS) {
      void this.close(`publisher did not connect within ${CONNECT_TIMEOUT_MS / 1000} s`);
      return;
    }
    const last = Math.max(this.#counters.video.lastAt, this.#counters.audio.lastAt, this.#since);
    if (this.#connected && now - last > this.#init.mediaTimeoutMs) void this.close(`no RTP from the publisher for ${this.#init.mediaTimeoutMs / 1000} s`);
  }

  /** Trickle ICE from the publisher (204). An ICE restart is not offered: the publisher publishes again. */
  async patch(fragText: string, ifMatch: string | null): Promise<WhepPatchedDto> {
    if (!this.#pc || this.#ended) throw new NotFoundError('unknown WHIP session');
    if (ifMatch === null && this.#init.webrtc.strictIfMatch) throw new PreconditionRequiredError('If-Match with the session ETag is required');
    if (ifMatch !== null && !ifMatchAllows(ifMatch, this.#etag)) throw new PreconditionFailedError(`If-Match ${ifMatch} does not match the session ETag ${this.#etag}`);
    let frag;
    try {
      frag = parseSdpFrag(fragText);
    } catch (err) {
      throw new ValidationError(`malformed trickle-ice-sdpfrag: ${(err as Error).message}`);
    }
    if (frag.ufrag && frag.ufrag !== this.#remoteUfrag) {
      throw new ValidationError('ICE restart is not supported for WHIP publishers: DELETE the session and publish again');
    }
    for (const c of frag.candidates) {
      const candidate = c.candidate.replace(/ generation \d+/, '');
      await this.#pc.addIceCandidate({ candidate, sdpMid: c.mid ?? '0' }).catch(() => undefined);
    }
    return { status: 204, etag: this.#etag };
  }

  /** A process reads the stream: the SDP FFmpeg opens (RTP to loopback ports only it listens on). */
  async addReader(): Promise<string> {
    if (this.#ended) throw new NotFoundError(`stream ${this.#init.name} is not being published`);
    const ports = await this.#forward.add();
    // FFmpeg needs a keyframe to start: ask now rather than wait for the publisher's next one.
    setTimeout(() => this.requestKeyframe(), 200).unref();
    return readerSdp(this.#init.name, ports, this.#counters.audio.packets > 0 || this.#codecs.audio !== null, this.#paramSets);
  }

  info(): WhipPublisherDto {
    const pair = this.#pc?.iceTransports[0]?.connection.nominated;
    return {
      name: this.#init.name,
      since: Math.floor(this.#since / 1000),
      connected: this.#connected,
      remote: pair ? `${pair.remoteCandidate.host}:${pair.remoteCandidate.port}` : '',
      codecs: this.#codecs,
      video: { packets: this.#counters.video.packets, bytes: this.#counters.video.bytes },
      audio: { packets: this.#counters.audio.packets, bytes: this.#counters.audio.bytes },
      plis_sent: this.#plisSent,
      viewers: this.#shard.size,
      readers: this.#forward.size,
    };
  }

  async whepCreate(offer: string): Promise<WhepCreatedDto> {
    if (this.#ended) throw new NotFoundError(`stream ${this.#init.name} is not being published`);
    if (Date.now() - this.#counters.video.lastAt > MEDIA_FRESH_MS) throw new NotReadyError(`stream whip:${this.#init.name} has no media yet`);
    return this.#shard.create(offer, this.#codecs.audio !== null, this.#init.webrtc.maxViewersPerStream);
  }

  whepPatch(sessionId: string, frag: string, ifMatch: string | null): Promise<WhepPatchedDto> {
    return this.#shard.patch(sessionId, frag, ifMatch);
  }

  whepDelete(sessionId: string): Promise<boolean> {
    return this.#shard.remove(sessionId);
  }

  whepSessions(): WhepSessionDto[] {
    return this.#shard.sessions();
  }

  whepStats(): WhepStatsDto {
    return this.#shard.stats();
  }

  /** Ends the publication: viewers are closed, readers stop getting packets, the publisher's peer closes. Idempotent. */
  async close(reason: string): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#ticker);
    if (this.#disconnectTimer) clearTimeout(this.#disconnectTimer);
    log.info(`${this.#init.name}: publication ended (${reason})`);
    this.#forward.close();
    this.#ring.close();
    await this.#shard.dispose(`the WHIP publisher of ${this.#init.name} left (${reason})`);
    await this.#pc?.close().catch(() => undefined);
    this.#emit({ event: 'publish.ended', reason });
  }
}

function codecOf(mimeType: string, c: OfferCodec): RTCRtpCodecParameters {
  const fmtp = Object.entries(c.fmtp)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');
  return new RTCRtpCodecParameters({
    mimeType,
    clockRate: c.clockRate,
    ...(mimeType === 'audio/opus' ? { channels: 2 } : { rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }] }),
    ...(fmtp ? { parameters: fmtp } : {}),
  });
}

/** werift throws plain Errors on offers its parser dislikes: those are the offer's fault (400). */
async function offerStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof Error && /negotiate codecs failed/.test(err.message)) throw err;
    throw new SdpError(err instanceof Error ? err.message : String(err));
  }
}

function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state !== 'complete') return;
      sub.unSubscribe();
      resolve();
    });
  });
}

async function withinTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined);
  try {
    await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`ICE gathering did not complete within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function newEtag(): string {
  return `"${randomBytes(8).toString('hex')}"`;
}
