// Puts SPS/PPS in band in front of every IDR of copied H264, on the RTP FFmpeg sends.
//
// Why not FFmpeg's `-bsf:v h264_mp4toannexb,dump_extra`: each time `-stream_loop` rewinds an input,
// FFmpeg 5.x flushes the stream-copy outputs, which sends end-of-stream into their -bsf chain; every
// later packet then fails ("A non-NULL packet sent after an EOF") and the video leg stays dead while
// the audio goes on. A tee muxer's slave bsfs avoid the flush but leave the slave's avcC extradata in
// place, so FFmpeg's RTP packetizer reads the annex-B output as length-prefixed NAL units: garbage.
// Without a bsf, FFmpeg's RTP muxer packetizes avcC input itself and stays alive across loop points;
// only the parameter sets are missing, and FFmpeg writes them into its SDP (sprop-parameter-sets).
//
// Each access unit's leading non-VCL packets (AUD, SEI) are held until its first slice shows whether
// it is an IDR (they arrive back to back, so this adds no latency); an IDR without SPS+PPS of its own
// gets a STAP-A [SPS, PPS] first. Sequence numbers after an inserted packet move up by one so the
// stream stays gap-free. Parameter sets in band replace the SDP's (a stream that changes resolution).
import { buildStapA, extractParameterSets, h264NalTypeMask, NAL, rtpSeq, rtpTimestamp } from '../../shared/h264.ts';

const BIT_IDR = 1 << NAL.IDR;
const BIT_SPS = 1 << NAL.SPS;
const BIT_PPS = 1 << NAL.PPS;
const BITS_VCL = 0b111110;
/** Leading non-VCL packets of one access unit held at most; more are let through unchanged. */
const MAX_HELD = 32;

export interface ParameterSets {
  sps: Buffer[];
  pps: Buffer[];
}

/** The SPS/PPS of payload type `pt` in an SDP's `sprop-parameter-sets`, or null when it has none. */
export function parameterSetsFromSdp(sdp: string, pt: number): ParameterSets | null {
  const line = sdp.split(/\r?\n/).find((l) => l.startsWith(`a=fmtp:${pt} `));
  const m = line ? /sprop-parameter-sets=([A-Za-z0-9+/=,]+)/.exec(line) : null;
  if (!m) return null;
  const sets: ParameterSets = { sps: [], pps: [] };
  for (const b64 of m[1]!.split(',')) {
    const nal = Buffer.from(b64, 'base64');
    if (nal.length === 0) continue;
    const type = nal[0]! & 0x1f;
    if (type === NAL.SPS) sets.sps.push(nal);
    else if (type === NAL.PPS) sets.pps.push(nal);
  }
  return sets.sps.length > 0 && sets.pps.length > 0 ? sets : null;
}

export class ParamSetInjector {
  readonly #out: (pkt: Buffer, arrivedAt: number) => void;
  readonly #load: () => ParameterSets | null;
  #sets: ParameterSets | null = null;
  #offset = 0;
  #auTs = -1;
  #auVcl = false;
  #auSps = false;
  #auPps = false;
  readonly #held: Buffer[] = [];
  readonly #heldAt: number[] = [];
  #inserted = 0;

  /** out: receives every packet, in order, with inserted ones. load: the parameter sets out of band (FFmpeg's SDP), asked when first needed. */
  constructor(out: (pkt: Buffer, arrivedAt: number) => void, load: () => ParameterSets | null) {
    this.#out = out;
    this.#load = load;
  }

  /** STAP-A packets inserted so far. */
  get inserted(): number {
    return this.#inserted;
  }

  push(pkt: Buffer, arrivedAt: number): void {
    const ts = rtpTimestamp(pkt);
    if (ts !== this.#auTs) {
      this.#flush();
      this.#auTs = ts;
      this.#auVcl = this.#auSps = this.#auPps = false;
    }
    const mask = h264NalTypeMask(pkt);
    if (mask & (BIT_SPS | BIT_PPS)) this.#learn(pkt, mask);
    if (this.#auVcl) return this.#send(pkt, arrivedAt);
    if ((mask & BITS_VCL) === 0) {
      this.#held.push(pkt);
      this.#heldAt.push(arrivedAt);
      // An access unit without a slice ends with its marker; a runaway one is not held for ever.
      if ((pkt[1]! & 0x80) !== 0 || this.#held.length >= MAX_HELD) this.#flush();
      return;
    }
    this.#auVcl = true;
    if (mask & BIT_IDR && !(this.#auSps && this.#auPps)) {
      this.#sets ??= this.#load();
      if (this.#sets && this.#sets.sps.length > 0 && this.#sets.pps.length > 0) {
        const first = this.#held[0] ?? pkt;
        const stap = buildStapA(first, [...this.#sets.sps, ...this.#sets.pps], rtpSeq(first) + this.#offset, ts);
        this.#offset++;
        this.#inserted++;
        this.#out(stap, this.#heldAt[0] ?? arrivedAt);
      }
    }
    this.#flush();
    this.#send(pkt, arrivedAt);
  }

  #learn(pkt: Buffer, mask: number): void {
    if (mask & BIT_SPS) this.#auSps = true;
    if (mask & BIT_PPS) this.#auPps = true;
    const { sps, pps } = extractParameterSets(pkt);
    if (sps.length === 0 && pps.length === 0) return;
    const known = this.#sets ?? this.#load() ?? { sps: [], pps: [] };
    this.#sets = { sps: sps.length > 0 ? sps : known.sps, pps: pps.length > 0 ? pps : known.pps };
  }

  #flush(): void {
    for (let i = 0; i < this.#held.length; i++) this.#send(this.#held[i]!, this.#heldAt[i]!);
    this.#held.length = 0;
    this.#heldAt.length = 0;
  }

  #send(pkt: Buffer, arrivedAt: number): void {
    if (this.#offset !== 0) {
      const seq = (((pkt[2]! << 8) | pkt[3]!) + this.#offset) & 0xffff;
      pkt[2] = seq >> 8;
      pkt[3] = seq & 0xff;
    }
    this.#out(pkt, arrivedAt);
  }
}
