// A WHEP session whose viewer never completes ICE ends on its own (ICE-lite: no checks within
// webrtc.consent_timeout_seconds), and drake says so at info, in /api/v3/log too: "closed before it
// connected" with the reason. A session the viewer DELETEs before connecting is not news (debug only).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDrake, waitFor, type TestDrake } from '../helpers/drake.ts';
import { webrtcProcess } from '../helpers/webrtcProcess.ts';
import { gatheredOffer, viewerPeer } from '../helpers/whepClient.ts';

describe('WHEP sessions that never connect', () => {
  let drake: TestDrake;
  before(async () => {
    drake = await startDrake({ webrtc: { consent_timeout_seconds: 10 } });
    assert.equal((await drake.api('POST', '/api/v3/process', webrtcProcess('cam'))).status, 200);
    await waitFor('cam has media', async () => ((await drake.supervisor.whepStats('cam')) as { gopPackets: number }).gopPackets > 0, 20_000);
  });
  after(async () => {
    await drake.stop(true);
  });

  /** POSTs a real offer and never applies the answer: the viewer sends no ICE check. */
  async function silentSession(): Promise<string> {
    const pc = viewerPeer();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    try {
      const res = await fetch(`${drake.url}/whep/cam`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: await gatheredOffer(pc) });
      assert.equal(res.status, 201, await res.text());
      return res.headers.get('location')!;
    } finally {
      await pc.close();
    }
  }
  const lines = async () => (await drake.api<string[]>('GET', '/api/v3/log')).body;

  test('one that never connects is closed after the consent timeout and logged at info; a DELETEd one is not', { timeout: 40_000 }, async () => {
    const deleted = await silentSession();
    assert.equal((await fetch(`${drake.url}${deleted}`, { method: 'DELETE' })).status, 200);
    const silent = await silentSession();
    const id = silent.split('/').pop()!;
    await waitFor('the silent session ends', async () => (await fetch(`${drake.url}${silent}`, { method: 'PATCH', headers: { 'content-type': 'application/trickle-ice-sdpfrag' }, body: 'a=end-of-candidates\r\n' })).status === 404, 25_000);
    await waitFor('its log line', async () => (await lines()).some((l) => l.includes(`info [PeerShard] session ${id} closed before it connected: connection lost (consent freshness`)), 5000)
      .catch(async (err: Error) => {
        throw new Error(`${err.message}: ${(await lines()).slice(-8).join(' | ')}`);
      });
    const deletedId = deleted.split('/').pop()!;
    assert.ok(!(await lines()).some((l) => l.includes(deletedId)), 'a session the viewer DELETEd is not logged at info');
  });
});
