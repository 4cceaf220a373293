import assert from 'node:assert/strict';
import { test } from 'node:test';
import { editAnswer, parseOffer, parseSdpFrag, pickH264, pickOpus, restartAnswerFrag, SdpError } from '../../src/actors/peer/sdp.ts';

const OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99',
  'a=mid:0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789abcdef012345',
  'a=recvonly',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:97 H264/90000',
  'a=fmtp:97 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f',
  'a=rtpmap:98 H264/90000',
  'a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f',
  'a=rtpmap:99 H264/90000',
  'a=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'a=mid:1',
  'a=recvonly',
  'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');

test('parseOffer() reads media sections, codecs and ICE credentials', () => {
  const o = parseOffer(OFFER);
  assert.equal(o.iceUfrag, 'abcd');
  assert.deepEqual(o.media.map((m) => [m.kind, m.mid, m.direction]), [['video', '0', 'recvonly'], ['audio', '1', 'recvonly']]);
  assert.equal(o.media[0]!.codecs.length, 4);
});

test('pickH264() wants packetization-mode 1 and prefers constrained baseline', () => {
  const o = parseOffer(OFFER);
  assert.equal(pickH264(o.media[0])?.pt, 99);
  const noCb = { ...o.media[0]!, codecs: o.media[0]!.codecs.filter((c) => c.pt !== 99) };
  assert.equal(pickH264(noCb)?.pt, 98, 'High with mode 1 beats baseline with mode 0');
  const none = { ...o.media[0]!, codecs: o.media[0]!.codecs.filter((c) => c.pt === 96 || c.pt === 97) };
  assert.equal(pickH264(none), null);
  assert.equal(pickOpus(o.media[1])?.pt, 111);
});

test('parseOffer() rejects what is not an SDP offer', () => {
  for (const bad of ['', 'hello', 'v=0\r\ns=-\r\n', 'v=0\r\nm=video 9 RTP 96\r\n', 'v=0\r\nthis is not sdp\r\n', `v=0\r\n${'a=x\r\n'.repeat(20_000)}`]) {
    assert.throws(() => parseOffer(bad), SdpError, JSON.stringify(bad.slice(0, 30)));
  }
});

test('editAnswer() adds rtcp-mux-only, one shared msid and end-of-candidates, and rewrites host candidates', () => {
  const answer = [
    'v=0', 'o=- 1 2 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1',
    'm=video 9 UDP/TLS/RTP/SAVPF 99', 'a=mid:0', 'a=rtcp-mux', 'a=msid:old track', 'a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host', 'a=candidate:2 1 udp 1694498815 198.51.100.1 40000 typ srflx raddr 10.0.0.5 rport 40000',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:1', 'a=rtcp-mux', '',
  ].join('\r\n');
  const out = editAnswer(answer, { streamId: 'drake-x', announceIps: ['203.0.113.7'] });
  const sections = out.split('m=').slice(1);
  for (const m of sections) {
    assert.match(m, /a=rtcp-mux-only/);
    assert.match(m, /a=msid:drake-x drake-x-\d/);
    assert.match(m, /a=end-of-candidates/);
  }
  assert.doesNotMatch(out, /a=msid:old/);
  assert.match(out, /a=candidate:1 1 udp 2130706431 203\.0\.113\.7 40000 typ host/);
  assert.match(out, /198\.51\.100\.1 40000 typ srflx raddr 10\.0\.0\.5/, 'only host candidates are rewritten');
  assert.match(out, /a=msid-semantic: WMS drake-x/);
});

test('editAnswer() moves a=ice-lite from the m-sections (where werift writes it) to the session, once; the restart frag keeps it', () => {
  const answer = [
    'v=0', 'o=- 1 2 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1',
    'm=video 9 UDP/TLS/RTP/SAVPF 99', 'a=mid:0', 'a=ice-ufrag:abcd', 'a=ice-pwd:0123456789abcdef012345', 'a=ice-lite', 'a=rtcp-mux', 'a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:1', 'a=ice-lite', 'a=rtcp-mux', '',
  ].join('\r\n');
  const out = editAnswer(answer, { streamId: 'drake-x', announceIps: [] });
  assert.equal(out.match(/^a=ice-lite$/gm)?.length, 1);
  const session = out.slice(0, out.indexOf('m='));
  assert.match(session, /^a=ice-lite$/m);
  const frag = restartAnswerFrag(out);
  assert.match(frag, /^a=ice-lite\r$/m);
  // Full ICE: nothing added.
  assert.doesNotMatch(editAnswer(answer.replace(/a=ice-lite\r\n/g, ''), { streamId: 'x', announceIps: [] }), /ice-lite/);
});

test('parseSdpFrag() reads credentials, candidates with their mid, end-of-candidates; rejects garbage', () => {
  const f = parseSdpFrag('a=ice-ufrag:U\r\na=ice-pwd:P\r\na=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n');
  assert.equal(f.ufrag, 'U');
  assert.equal(f.pwd, 'P');
  assert.deepEqual(f.candidates, [{ candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', mid: '0' }]);
  assert.equal(f.endOfCandidates, true);
  assert.throws(() => parseSdpFrag('{"json": true}'), SdpError);
});
