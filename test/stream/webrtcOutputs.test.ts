import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isListeningInput, legsFromProbe, webrtcOutputArgs, webrtcOutputIds } from '../../src/actors/stream/webrtcOutputs.ts';
import { processConfigSchema, type WebrtcConfig } from '../../src/shared/processConfig.ts';
import type { ProbeStreamDto } from '../../src/shared/protocol.ts';

const ports = { video: 5000, audio: 5002 };

function webrtc(over: Partial<WebrtcConfig> = {}): WebrtcConfig {
  return processConfigSchema.parse({ input: [{ address: 'x' }], output: [{ address: '-' }], webrtc: { enabled: true, ...over } }).webrtc;
}

function stream(index: number, type: string): ProbeStreamDto {
  return {
    url: '', format: '', index, stream: 0, language: 'und', type, codec: '', coder: '', bitrate_kbps: 0, duration_sec: 0,
    fps: 0, pix_fmt: '', width: 0, height: 0, sampling_hz: 0, layout: '', channels: 0,
  };
}

test('webrtcOutputArgs() leaves out the leg the run does not carry', () => {
  const both = webrtcOutputArgs(webrtc(), ports);
  assert.ok(both.includes('libx264') && both.includes('libopus'));
  const videoOnly = webrtcOutputArgs(webrtc(), ports, { video: true, audio: false });
  assert.ok(videoOnly.includes('libx264') && !videoOnly.includes('libopus'));
  assert.equal(videoOnly.at(-1), `udp://127.0.0.1:${ports.video}?pkt_size=1200`);
  const audioOnly = webrtcOutputArgs(webrtc(), ports, { video: false, audio: true });
  assert.deepEqual(audioOnly.slice(0, 3), ['-vn', '-sn', '-dn']);
  assert.ok(!audioOnly.includes('libx264'));
  assert.equal(audioOnly.at(-1), `udp://127.0.0.1:${ports.audio}?pkt_size=1200`);
  assert.deepEqual(webrtcOutputIds(webrtc(), { video: false, audio: true }), ['webrtc:audio']);
  assert.deepEqual(webrtcOutputIds(webrtc({ audio: 'none' }), { video: true, audio: true }), ['webrtc:video']);
});

test('webrtcOutputArgs() copies H264 without a -bsf:v chain (FFmpeg 5 ends it at a -stream_loop rewind)', () => {
  const args = webrtcOutputArgs(webrtc({ video: 'copy' }), ports);
  assert.deepEqual(args.slice(0, args.indexOf(`udp://127.0.0.1:${ports.video}?pkt_size=1200`) + 1), [
    '-an', '-sn', '-dn', '-c:v', 'copy', '-payload_type', '96', '-f', 'rtp', `udp://127.0.0.1:${ports.video}?pkt_size=1200`,
  ]);
  assert.ok(!args.some((a) => a.startsWith('-bsf')));
});

test('legsFromProbe() skips a leg whose medium the inputs lack, with a note', () => {
  assert.deepEqual(legsFromProbe(webrtc(), [stream(0, 'video'), stream(1, 'audio')]), { legs: { video: true, audio: true }, notes: [] });
  assert.deepEqual(legsFromProbe(webrtc(), [stream(0, 'video')]), {
    legs: { video: true, audio: false },
    notes: ['WebRTC: the inputs have no audio stream; the audio leg is skipped'],
  });
  assert.deepEqual(legsFromProbe(webrtc(), [stream(0, 'audio'), stream(0, 'subtitle')]), {
    legs: { video: false, audio: true },
    notes: ['WebRTC: the inputs have no video stream; the video leg is skipped'],
  });
  // audio 'none' is the user's choice, not a skipped leg.
  assert.deepEqual(legsFromProbe(webrtc({ audio: 'none' }), [stream(0, 'video')]), { legs: { video: true, audio: false }, notes: [] });
});

test('legsFromProbe() checks a map that names an input against that input only', () => {
  const streams = [stream(0, 'video'), stream(1, 'audio')];
  assert.equal(legsFromProbe(webrtc({ audio_map: '1:a' }), streams).legs.audio, true);
  assert.equal(legsFromProbe(webrtc({ audio_map: '1' }), streams).legs.audio, true);
  const r = legsFromProbe(webrtc({ audio_map: '0:a:0?' }), streams);
  assert.equal(r.legs.audio, false);
  assert.deepEqual(r.notes, ["WebRTC: the inputs have no audio stream for audio_map '0:a:0?'; the audio leg is skipped"]);
  assert.equal(legsFromProbe(webrtc({ video_map: '1:v' }), streams).legs.video, false);
  assert.equal(legsFromProbe(webrtc({ video_map: '[vout]' }), streams).legs.video, true, 'a filter label is trusted');
});

test('isListeningInput() spots inputs that wait for a publisher', () => {
  const io = (address: string, options: string[] = []) => ({ id: 'in', address, options, cleanup: [] });
  assert.equal(isListeningInput(io('rtmp://0.0.0.0:1935/live/x', ['-listen', '1'])), true);
  assert.equal(isListeningInput(io('rtmp://0.0.0.0:1935/live/x', ['-listen', '0'])), false);
  assert.equal(isListeningInput(io('srt://0.0.0.0:6000?mode=listener&latency=120000')), true);
  assert.equal(isListeningInput(io('tcp://0.0.0.0:9000?listen')), true);
  assert.equal(isListeningInput(io('rtsp://0.0.0.0:8554/x', ['-rtsp_flags', 'listen'])), true);
  assert.equal(isListeningInput(io('srt://example.com:6000?mode=caller')), false);
  assert.equal(isListeningInput(io('testsrc', ['-f', 'lavfi'])), false);
});
