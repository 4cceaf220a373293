// What drake needs to read in a WHEP offer and to fix in werift's answer. Deliberately small: the
// full parse stays werift's; this module validates, picks codecs and edits lines. Total on any input.

export interface OfferCodec {
  pt: number;
  name: string;
  clockRate: number;
  channels: number;
  fmtp: Record<string, string>;
}

export interface OfferMedia {
  kind: string;
  mid: string;
  direction: string;
  codecs: OfferCodec[];
}

export interface ParsedOffer {
  media: OfferMedia[];
  iceUfrag: string;
  icePwd: string;
}

export class SdpError extends Error {}

const MAX_SDP = 64 * 1024;

function parseFmtp(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Checks the offer's shape and returns its media sections; SdpError says what is wrong. */
export function parseOffer(sdp: string): ParsedOffer {
  if (sdp.length > MAX_SDP) throw new SdpError('offer is too large');
  const lines = sdp.split(/\r?\n/).map((l) => l.trimEnd()).filter(Boolean);
  if (lines[0] !== 'v=0') throw new SdpError('offer does not start with v=0');
  if (lines.some((l) => !/^[a-z]=/.test(l))) throw new SdpError('offer has lines that are not SDP (x=...)');
  const media: OfferMedia[] = [];
  let session = { ufrag: '', pwd: '' };
  let cur: (OfferMedia & { ufrag: string; pwd: string }) | null = null;
  const all: Array<OfferMedia & { ufrag: string; pwd: string }> = [];
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const [kind = '', , , ...pts] = line.slice(2).split(' ');
      cur = { kind, mid: '', direction: 'sendrecv', codecs: [], ufrag: '', pwd: '' };
      for (const pt of pts) {
        const n = Number(pt);
        if (Number.isInteger(n) && n >= 0 && n < 128) cur.codecs.push({ pt: n, name: '', clockRate: 0, channels: 1, fmtp: {} });
      }
      all.push(cur);
      continue;
    }
    const target = cur;
    let m: RegExpExecArray | null;
    if ((m = /^a=ice-ufrag:(\S+)/.exec(line))) {
      if (target) target.ufrag = m[1]!;
      else session.ufrag = m[1]!;
    } else if ((m = /^a=ice-pwd:(\S+)/.exec(line))) {
      if (target) target.pwd = m[1]!;
      else session.pwd = m[1]!;
    } else if (line.startsWith('a=fingerprint:') && !/^a=fingerprint:\S+ \S/.test(line)) {
      // werift keeps a fingerprint without its value and later calls a string method on it: a 500.
      throw new SdpError('a=fingerprint needs "<hash function> <fingerprint>"');
    } else if (!target) {
      continue;
    } else if ((m = /^a=mid:(\S+)/.exec(line))) {
      target.mid = m[1]!;
    } else if ((m = /^a=(sendrecv|sendonly|recvonly|inactive)$/.exec(line))) {
      target.direction = m[1]!;
    } else if ((m = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(line))) {
      const codec = target.codecs.find((c) => c.pt === Number(m![1]));
      if (codec) {
        codec.name = m[2]!.toLowerCase();
        codec.clockRate = Number(m[3]);
        codec.channels = m[4] ? Number(m[4]) : 1;
      }
    } else if ((m = /^a=fmtp:(\d+) (.*)$/.exec(line))) {
      const codec = target.codecs.find((c) => c.pt === Number(m![1]));
      if (codec) codec.fmtp = parseFmtp(m[2]!);
    }
  }
  if (all.length === 0) throw new SdpError('offer has no media section');
  for (const m of all) media.push({ kind: m.kind, mid: m.mid, direction: m.direction, codecs: m.codecs });
  const first = all[0]!;
  const iceUfrag = first.ufrag || session.ufrag;
  const icePwd = first.pwd || session.pwd;
  if (!iceUfrag || !icePwd) throw new SdpError('offer has no ice-ufrag/ice-pwd');
  return { media, iceUfrag, icePwd };
}

/**
 * The H264 payload type drake will send on: packetization-mode 1 is required (FU-A); constrained
 * baseline (42e0xx) is preferred, then baseline, then any profile (every H264 decoder takes constrained baseline).
 */
export function pickH264(media: OfferMedia | undefined): OfferCodec | null {
  if (!media) return null;
  const h264 = media.codecs.filter((c) => c.name === 'h264' && c.clockRate === 90000 && c.fmtp['packetization-mode'] === '1');
  const profile = (c: OfferCodec) => (c.fmtp['profile-level-id'] ?? '42e01f').toLowerCase();
  const rank = (c: OfferCodec) => (/^42e0/.test(profile(c)) ? 0 : /^42/.test(profile(c)) ? 1 : 2);
  return h264.sort((a, b) => rank(a) - rank(b))[0] ?? null;
}

export function pickOpus(media: OfferMedia | undefined): OfferCodec | null {
  if (!media) return null;
  return media.codecs.find((c) => c.name === 'opus' && c.clockRate === 48000) ?? null;
}

export interface AnswerEdits {
  /** One MediaStream id for audio and video, as the WHEP draft asks. */
  streamId: string;
  /** NAT 1:1: host candidate addresses are replaced by these (first of the family). */
  announceIps: string[];
}

/**
 * Adds a=rtcp-mux-only, one shared msid, end-of-candidates; rewrites host candidates for announced IPs;
 * moves a=ice-lite (werift writes it into every m-section) to the session level, the only place RFC 8839
 * defines it and libwebrtc reads it.
 */
export function editAnswer(sdp: string, edits: AnswerEdits): string {
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  const out: string[] = [];
  let inMedia = false;
  let trackNo = 0;
  let iceLite = false;
  // The answer is sent after gathering completed: every section's candidate list is final.
  const flushMedia = () => {
    if (inMedia) out.push('a=end-of-candidates');
  };
  for (const line of lines) {
    if (line.startsWith('m=')) {
      flushMedia();
      inMedia = true;
      out.push(line);
      continue;
    }
    if (line === 'a=ice-lite') {
      iceLite = true;
      continue;
    }
    if (line.startsWith('a=msid:') || line.startsWith('a=msid-semantic') || line === 'a=rtcp-mux-only' || line === 'a=end-of-candidates') continue;
    if (line.startsWith('a=ssrc:') && / msid:/.test(line)) continue;
    if (line.startsWith('a=candidate:') && edits.announceIps.length) {
      out.push(rewriteCandidate(line, edits.announceIps));
      continue;
    }
    out.push(line);
    if (inMedia && line === 'a=rtcp-mux') {
      out.push('a=rtcp-mux-only');
      out.push(`a=msid:${edits.streamId} ${edits.streamId}-${trackNo++}`);
    }
  }
  flushMedia();
  const at = out.findIndex((l) => l.startsWith('m='));
  if (at > 0) out.splice(at, 0, ...(iceLite ? ['a=ice-lite'] : []), `a=msid-semantic: WMS ${edits.streamId}`);
  return `${out.join('\r\n')}\r\n`;
}

/**
 * The 200 body of an ICE restart (WHEP draft, RFC 8840 shape): the session's ICE attributes, then the
 * first (bundle-tagged) m-section with its mid, the new ufrag/pwd and the full new candidate list.
 */
export function restartAnswerFrag(answer: string): string {
  const lines = answer.split(/\r?\n/).filter((l) => l.length > 0);
  const session = lines.filter((l) => l === 'a=ice-lite' || l.startsWith('a=ice-options:') || l.startsWith('a=group:BUNDLE'));
  const first = lines.findIndex((l) => l.startsWith('m='));
  const next = lines.findIndex((l, i) => i > first && l.startsWith('m='));
  const media = first < 0 ? [] : lines.slice(first, next < 0 ? undefined : next);
  const pick = (prefix: string) => media.find((l) => l.startsWith(prefix)) ?? lines.find((l) => l.startsWith(prefix));
  const out = [...session];
  if (media[0]) out.push(media[0]);
  for (const prefix of ['a=mid:', 'a=ice-ufrag:', 'a=ice-pwd:']) {
    const line = pick(prefix);
    if (line) out.push(line);
  }
  out.push(...media.filter((l) => l.startsWith('a=candidate:')), 'a=end-of-candidates');
  return `${out.join('\r\n')}\r\n`;
}

function rewriteCandidate(line: string, ips: string[]): string {
  const parts = line.split(' ');
  // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
  if (parts.length < 8 || parts[7] !== 'host') return line;
  const v6 = (parts[4] ?? '').includes(':');
  const ip = ips.find((a) => a.includes(':') === v6);
  if (!ip) return line;
  parts[4] = ip;
  return parts.join(' ');
}

export interface SdpFrag {
  ufrag: string | null;
  pwd: string | null;
  candidates: Array<{ candidate: string; mid: string | null }>;
  endOfCandidates: boolean;
}

/** Parses an application/trickle-ice-sdpfrag body (RFC 8840). */
export function parseSdpFrag(text: string): SdpFrag {
  if (text.length > MAX_SDP) throw new SdpError('sdpfrag is too large');
  const frag: SdpFrag = { ufrag: null, pwd: null, candidates: [], endOfCandidates: false };
  let mid: string | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (!/^[a-z]=/.test(line)) throw new SdpError(`not an sdpfrag line: ${line.slice(0, 40)}`);
    let m: RegExpExecArray | null;
    if ((m = /^a=ice-ufrag:(\S+)$/.exec(line))) frag.ufrag = m[1]!;
    else if ((m = /^a=ice-pwd:(\S+)$/.exec(line))) frag.pwd = m[1]!;
    else if ((m = /^a=mid:(\S+)$/.exec(line))) mid = m[1]!;
    else if (line.startsWith('a=candidate:')) frag.candidates.push({ candidate: line.slice(2), mid });
    else if (line === 'a=end-of-candidates') frag.endOfCandidates = true;
  }
  return frag;
}
