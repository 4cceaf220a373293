// The child process that hosts libdatachannel viewers for ndcViewer.ts. libdatachannel tearing down its threads
// while media still arrives has ended whole test processes with SIGSEGV/SIGBUS at exit (their tests passed,
// the file failed): here such a crash takes only this process, after its results reached the test.
// Messages in (IPC): {op:'view', id, url} {op:'close', id}; out: 'viewed', 'video' (base64 RTP), 'state'.
import ndc from 'node-datachannel';

interface Viewer {
  pc: ndc.PeerConnection;
  video: string[];
  audio: number;
  /** The answer is set: its state is reported from then on. */
  answered: boolean;
  /**
   * Held for the peer's life: node-datachannel destroys a track whose JS object is garbage-collected, and
   * libdatachannel then renegotiates it away (signaling back to have-local-offer, no media at all): the cause
   * of the "connected but 0 RTP" runs.
   */
  tracks: ndc.Track[];
}
type HostIn = { op: 'view'; id: number; url: string } | { op: 'close'; id: number };

const ndcLog = process.env.NDC_LOG;
if (ndcLog) ndc.initLogger(ndcLog as Parameters<typeof ndc.initLogger>[0], (level, message) => process.stderr.write(`libdatachannel ${level}: ${message}\n`));

const viewers = new Map<number, Viewer>();
/** RTCP arrives on the track callbacks too: payload types 72–79 are not media. */
const isRtp = (m: Buffer) => {
  const pt = m[1]! & 0x7f;
  return pt < 72 || pt > 79;
};
const send = (m: unknown) => process.send?.(m);

async function view(id: number, url: string): Promise<void> {
  const pc = new ndc.PeerConnection(`viewer${id}`, { iceServers: [], bindAddress: '127.0.0.1' });
  const v: Viewer = { pc, video: [], audio: 0, answered: false, tracks: [] };
  viewers.set(id, v);
  const video = new ndc.Video('0', 'RecvOnly');
  video.addH264Codec(102);
  const audio = new ndc.Audio('1', 'RecvOnly');
  audio.addOpusCodec(111);
  const videoTrack = pc.addTrack(video);
  const audioTrack = pc.addTrack(audio);
  v.tracks.push(videoTrack, audioTrack);
  videoTrack.onMessage((m) => {
    if (isRtp(m)) v.video.push(Buffer.from(m).toString('base64'));
  });
  audioTrack.onMessage((m) => {
    if (isRtp(m)) v.audio++;
  });
  pc.setLocalDescription();
  const until = Date.now() + 10_000;
  while (pc.gatheringState() !== 'complete') {
    if (Date.now() > until) throw new Error('ICE gathering did not complete in 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: pc.localDescription()!.sdp });
  const answer = await res.text();
  if (res.status === 201) pc.setRemoteDescription(answer, 'answer');
  v.answered = true;
  send({ op: 'viewed', id, status: res.status, answer, location: res.headers.get('location') });
}

// Decrypted packets and states go to the test in batches (every 50 ms), not one IPC message per packet.
setInterval(() => {
  for (const [id, v] of viewers) {
    if (!v.answered) continue;
    const pc = v.pc;
    let describe = 'closed';
    try {
      describe = `libdatachannel ${pc.state()}/ice ${pc.iceState()}/${pc.signalingState()}`;
    } catch {
      // closed peer
    }
    send({ op: 'state', id, describe, audio: v.audio, video: v.video.splice(0) });
  }
}, 50);

process.on('message', (m: HostIn) => {
  if (m.op === 'view') {
    view(m.id, m.url).catch((err: unknown) => send({ op: 'viewed', id: m.id, error: String(err) }));
  } else if (m.op === 'close') {
    viewers.get(m.id)?.pc.close();
    viewers.delete(m.id);
  }
});
// The test process is gone (or closed the channel): nothing left to serve.
process.on('disconnect', () => process.exit(0));
send({ op: 'ready' });
