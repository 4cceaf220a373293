// webrtc.send_path = werift keeps werift's stock track/sender path selectable (the benchmarks'
// baseline): viewers must still receive video and audio on it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDrake, waitFor } from '../helpers/drake.ts';
import { addLiveProcess } from '../helpers/webrtcProcess.ts';
import { videoCount, whepView } from '../helpers/whepClient.ts';

test('the stock werift send path delivers video and audio, without a join burst', async () => {
  const drake = await startDrake({ webrtc: { send_path: 'werift' } });
  try {
    await addLiveProcess(drake, 'cam');
    const v = await whepView(`${drake.url}/whep/cam`);
    assert.equal(v.status, 201);
    await waitFor('video and audio', async () => videoCount(v) > 30 && v.audio > 20, 15_000);
    assert.equal((await drake.supervisor.whepStats('cam')).bursts, 0, 'no drake burst on the stock path');
    await v.close();
  } finally {
    await drake.stop(true);
  }
});
