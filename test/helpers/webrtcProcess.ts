import type { ProcessConfigInput } from '../../src/shared/processConfig.ts';
import type { TestDrake } from './drake.ts';
import { waitFor } from './waitFor.ts';

/** A small live source with video and audio and WebRTC on; gop_seconds 1 keeps joins quick. */
export function webrtcProcess(id: string, extra: Partial<ProcessConfigInput> = {}, webrtc: Record<string, unknown> = {}): ProcessConfigInput {
  return {
    id,
    input: [
      { id: 'v', address: 'testsrc=size=320x240:rate=25', options: ['-re', '-f', 'lavfi'] },
      { id: 'a', address: 'sine=frequency=440:sample_rate=48000', options: ['-re', '-f', 'lavfi'] },
    ],
    output: [{ id: 'null', address: '-', options: ['-map', '0:v', '-f', 'null'] }],
    autostart: true,
    webrtc: { enabled: true, gop_seconds: 1, video_bitrate_kbit: 500, ...webrtc },
    ...extra,
  };
}

/** Adds webrtcProcess(id) to `drake` and waits until its GOP cache holds media, so viewers can join at once. */
export async function addLiveProcess(drake: TestDrake, id: string): Promise<void> {
  await drake.api('POST', '/api/v3/process', webrtcProcess(id));
  await waitFor('media', async () => (await drake.supervisor.whepStats(id)).gopPackets > 0, 30_000);
}
