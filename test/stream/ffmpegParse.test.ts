// Tests for the FFmpeg text parser. The fixtures are stderr captured verbatim from the two binaries the
// project runs on (FFmpeg 5.1 from Debian 12 and a 2018 FFmpeg 4.1 static build); a few single lines
// marked "synthetic" stand for output that is hard to provoke on demand (time=N/A, negative time).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FfmpegParser, LineSplitter, type StreamInfo } from '../../src/actors/stream/ffmpegParse.ts';
import { rng } from '../helpers/rng.ts';

// ffmpeg 5.1: `ffmpeg -nostdin -y -re -t 2 -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -t 2 -i sine -map 0:v -c:v libx264 -preset veryfast -map 1:a -c:a aac -f mpegts /dev/null`
const AV_51 = [
  'ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers',
  '  built with gcc 12 (Debian 12.2.0-14+deb12u1)',
  '  configuration: --prefix=/usr --extra-version=0+deb12u1 --toolchain=hardened --libdir=/usr/lib/x86_64-linux-gnu --incdir=/usr/include/x86_64-linux-gnu --arch=amd64 --enable-gpl --disable-stripping --enable-gnutls --enable-ladspa --enable-libaom --enable-libass --enable-libbluray --enable-libbs2b --enable-libcaca --enable-libcdio --enable-libcodec2 --enable-libdav1d --enable-libflite --enable-libfontconfig --enable-libfreetype --enable-libfribidi --enable-libglslang --enable-libgme --enable-libgsm --enable-libjack --enable-libmp3lame --enable-libmysofa --enable-libopenjpeg --enable-libopenmpt --enable-libopus --enable-libpulse --enable-librabbitmq --enable-librist --enable-librubberband --enable-libshine --enable-libsnappy --enable-libsoxr --enable-libspeex --enable-libsrt --enable-libssh --enable-libsvtav1 --enable-libtheora --enable-libtwolame --enable-libvidstab --enable-libvorbis --enable-libvpx --enable-libwebp --enable-libx265 --enable-libxml2 --enable-libxvid --enable-libzimg --enable-libzmq --enable-libzvbi --enable-lv2 --enable-omx --enable-openal --enable-opencl --enable-opengl --enable-sdl2 --disable-sndio --enable-libjxl --enable-pocketsphinx --enable-librsvg --enable-libmfx --enable-libdc1394 --enable-libdrm --enable-libiec61883 --enable-chromaprint --enable-frei0r --enable-libx264 --enable-libplacebo --enable-librav1e --enable-shared',
  '  libavutil      57. 28.100 / 57. 28.100',
  '  libavcodec     59. 37.100 / 59. 37.100',
  '  libavformat    59. 27.100 / 59. 27.100',
  '  libavdevice    59.  7.100 / 59.  7.100',
  '  libavfilter     8. 44.100 /  8. 44.100',
  '  libswscale      6.  7.100 /  6.  7.100',
  '  libswresample   4.  7.100 /  4.  7.100',
  '  libpostproc    56.  6.100 / 56.  6.100',
  "Input #0, lavfi, from 'testsrc=size=320x240:rate=25':",
  '  Duration: N/A, start: 0.000000, bitrate: N/A',
  '  Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 320x240 [SAR 1:1 DAR 4:3], 25 tbr, 25 tbn',
  "Input #1, lavfi, from 'sine':",
  '  Duration: N/A, start: 0.000000, bitrate: 705 kb/s',
  '  Stream #1:0: Audio: pcm_s16le, 44100 Hz, mono, s16, 705 kb/s',
  'Stream mapping:',
  '  Stream #0:0 -> #0:0 (rawvideo (native) -> h264 (libx264))',
  '  Stream #1:0 -> #0:1 (pcm_s16le (native) -> aac (native))',
  '[libx264 @ 0x563653e7ba00] using SAR=1/1',
  '[libx264 @ 0x563653e7ba00] using cpu capabilities: MMX2 SSE2Fast SSSE3 SSE4.2 AVX FMA3 BMI2 AVX2 AVX512',
  '[libx264 @ 0x563653e7ba00] profile High 4:4:4 Predictive, level 1.3, 4:4:4, 8-bit',
  "Output #0, mpegts, to '/dev/null':",
  '  Metadata:',
  '    encoder         : Lavf59.27.100',
  '  Stream #0:0: Video: h264, yuv444p(tv, progressive), 320x240 [SAR 1:1 DAR 4:3], q=2-31, 25 fps, 90k tbn',
  '    Metadata:',
  '      encoder         : Lavc59.37.100 libx264',
  '    Side data:',
  '      cpb: bitrate max/min/avg: 0/0/0 buffer size: 0 vbv_delay: N/A',
  '  Stream #0:1: Audio: aac (LC), 44100 Hz, mono, fltp, 69 kb/s',
  '    Metadata:',
  '      encoder         : Lavc59.37.100 aac',
  'frame=    1 fps=0.0 q=0.0 size=       0kB time=00:00:00.00 bitrate=N/A speed=   0x    \rframe=   14 fps=0.0 q=0.0 size=       0kB time=00:00:00.00 bitrate=N/A speed=   0x    \rframe=   26 fps= 25 q=28.0 size=       8kB time=00:00:00.27 bitrate= 232.1kbits/s speed=0.272x    \rframe=   39 fps= 26 q=28.0 size=      19kB time=00:00:00.76 bitrate= 208.1kbits/s speed=0.501x    \rframe=   50 fps= 25 q=-1.0 Lsize=      45kB time=00:00:02.02 bitrate= 183.1kbits/s speed=0.996x    ',
  'video:13kB audio:17kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: 50.989227%',
  '[libx264 @ 0x563653e7ba00] frame I:1     Avg QP:17.57  size:  3560',
  '[libx264 @ 0x563653e7ba00] frame P:14    Avg QP:16.55  size:   507',
  '[libx264 @ 0x563653e7ba00] frame B:35    Avg QP:15.24  size:    67',
  '[libx264 @ 0x563653e7ba00] consecutive B-frames:  4.0%  0.0% 24.0% 72.0%',
  '[libx264 @ 0x563653e7ba00] mb I  I16..4: 64.3% 10.0% 25.7%',
  '[libx264 @ 0x563653e7ba00] mb P  I16..4:  4.0%  2.8%  0.4%  P16..4:  7.3%  3.4%  1.2%  0.0%  0.0%    skip:80.9%',
  '[libx264 @ 0x563653e7ba00] mb B  I16..4:  0.6%  0.1%  0.1%  B16..8:  1.2%  0.1%  0.0%  direct: 0.7%  skip:97.2%  L0:39.6% L1:60.0% BI: 0.4%',
  '[libx264 @ 0x563653e7ba00] 8x8 transform intra:22.8% inter:21.7%',
  '[libx264 @ 0x563653e7ba00] coded y,u,v intra: 13.5% 14.0% 13.3% inter: 0.8% 0.9% 0.8%',
  '[libx264 @ 0x563653e7ba00] i16 v,h,dc,p: 57% 32%  2%  9%',
  '[libx264 @ 0x563653e7ba00] i8 v,h,dc,ddl,ddr,vr,hd,vl,hu: 88%  3%  8%  1%  0%  0%  0%  0%  0%',
  '[libx264 @ 0x563653e7ba00] i4 v,h,dc,ddl,ddr,vr,hd,vl,hu: 41% 31% 21%  1%  1%  1%  0%  2%  0%',
  '[libx264 @ 0x563653e7ba00] Weighted P-Frames: Y:0.0% UV:0.0%',
  '[libx264 @ 0x563653e7ba00] kb/s:52.04',
  '[aac @ 0x563653e7d0c0] Qavg: 850.860',
].join('\n') + '\n';

// ffmpeg 4.1 (2018 static build), same command
const AV_41 = [
  'ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2018 the FFmpeg developers',
  '  built with gcc 6.3.0 (Debian 6.3.0-18+deb9u1) 20170516',
  '  configuration: --enable-gpl --enable-version3 --enable-static --disable-debug --disable-ffplay --disable-indev=sndio --disable-outdev=sndio --cc=gcc-6 --enable-fontconfig --enable-frei0r --enable-gnutls --enable-gray --enable-libaom --enable-libfribidi --enable-libass --enable-libvmaf --enable-libfreetype --enable-libmp3lame --enable-libopencore-amrnb --enable-libopencore-amrwb --enable-libopenjpeg --enable-librubberband --enable-libsoxr --enable-libspeex --enable-libvorbis --enable-libopus --enable-libtheora --enable-libvidstab --enable-libvo-amrwbenc --enable-libvpx --enable-libwebp --enable-libx264 --enable-libx265 --enable-libxml2 --enable-libxvid --enable-libzimg',
  '  libavutil      56. 24.101 / 56. 24.101',
  '  libavcodec     58. 42.100 / 58. 42.100',
  '  libavformat    58. 24.100 / 58. 24.100',
  '  libavdevice    58.  6.101 / 58.  6.101',
  '  libavfilter     7. 46.101 /  7. 46.101',
  '  libswscale      5.  4.100 /  5.  4.100',
  '  libswresample   3.  4.100 /  3.  4.100',
  '  libpostproc    55.  4.100 / 55.  4.100',
  "Input #0, lavfi, from 'testsrc=size=320x240:rate=25':",
  '  Duration: N/A, start: 0.000000, bitrate: N/A',
  '    Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 320x240 [SAR 1:1 DAR 4:3], 25 tbr, 25 tbn, 25 tbc',
  "Input #1, lavfi, from 'sine':",
  '  Duration: N/A, start: 0.000000, bitrate: 705 kb/s',
  '    Stream #1:0: Audio: pcm_s16le, 44100 Hz, mono, s16, 705 kb/s',
  'Stream mapping:',
  '  Stream #0:0 -> #0:0 (rawvideo (native) -> h264 (libx264))',
  '  Stream #1:0 -> #0:1 (pcm_s16le (native) -> aac (native))',
  '[libx264 @ 0x40035b00] using SAR=1/1',
  '[libx264 @ 0x40035b00] using cpu capabilities: MMX2 SSE2Fast SSSE3 SSE4.2 AVX FMA3 BMI2 AVX2 AVX512',
  '[libx264 @ 0x40035b00] profile High 4:4:4 Predictive, level 1.3, 4:4:4, 8-bit',
  "Output #0, mpegts, to '/dev/null':",
  '  Metadata:',
  '    encoder         : Lavf58.24.100',
  '    Stream #0:0: Video: h264 (libx264), yuv444p(progressive), 320x240 [SAR 1:1 DAR 4:3], q=-1--1, 25 fps, 90k tbn, 25 tbc',
  '    Metadata:',
  '      encoder         : Lavc58.42.100 libx264',
  '    Side data:',
  '      cpb: bitrate max/min/avg: 0/0/0 buffer size: 0 vbv_delay: -1',
  '    Stream #0:1: Audio: aac (LC), 44100 Hz, mono, fltp, 69 kb/s',
  '    Metadata:',
  '      encoder         : Lavc58.42.100 aac',
  'frame=   13 fps=0.0 q=0.0 size=       0kB time=00:00:00.00 bitrate=N/A speed=   0x    \rframe=   26 fps= 26 q=28.0 size=       6kB time=00:00:00.25 bitrate= 194.3kbits/s speed=0.255x    \rframe=   38 fps= 25 q=28.0 size=      16kB time=00:00:00.76 bitrate= 174.7kbits/s speed=0.507x    \rframe=   50 fps= 25 q=28.0 size=      23kB time=00:00:01.32 bitrate= 143.2kbits/s speed=0.658x    \rframe=   50 fps= 25 q=-1.0 Lsize=      40kB time=00:00:02.02 bitrate= 160.8kbits/s speed=0.997x    ',
  'video:12kB audio:18kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: 30.938639%',
  '[libx264 @ 0x40035b00] frame I:1     Avg QP:17.51  size:  3438',
  '[libx264 @ 0x40035b00] frame P:14    Avg QP:15.85  size:   477',
  '[libx264 @ 0x40035b00] frame B:35    Avg QP:15.55  size:    67',
  '[libx264 @ 0x40035b00] consecutive B-frames:  4.0%  0.0% 24.0% 72.0%',
  '[libx264 @ 0x40035b00] mb I  I16..4: 69.3%  0.0% 30.7%',
  '[libx264 @ 0x40035b00] mb P  I16..4:  6.2%  0.0%  1.1%  P16..4:  7.0%  3.8%  1.1%  0.0%  0.0%    skip:80.8%',
  '[libx264 @ 0x40035b00] mb B  I16..4:  0.6%  0.0%  0.0%  B16..8:  1.1%  0.1%  0.0%  direct: 0.7%  skip:97.4%  L0:45.0% L1:55.0% BI: 0.0%',
  '[libx264 @ 0x40035b00] coded y,u,v intra: 11.8% 12.6% 11.1% inter: 0.8% 0.8% 0.7%',
  '[libx264 @ 0x40035b00] i16 v,h,dc,p: 62% 23%  1% 14%',
  '[libx264 @ 0x40035b00] i4 v,h,dc,ddl,ddr,vr,hd,vl,hu: 40% 35% 20%  1%  1%  1%  0%  1%  0%',
  '[libx264 @ 0x40035b00] Weighted P-Frames: Y:0.0% UV:0.0%',
  '[libx264 @ 0x40035b00] kb/s:49.82',
  '[aac @ 0x40036e80] Qavg: 895.590',
].join('\n') + '\n';

// ffmpeg 5.1: `ffmpeg -nostdin -y -re -f lavfi -t 2 -i sine -c:a aac -f mpegts /dev/null`
const AUDIO_51 = [
  'ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers',
  '  built with gcc 12 (Debian 12.2.0-14+deb12u1)',
  '  configuration: --prefix=/usr --extra-version=0+deb12u1 --toolchain=hardened --libdir=/usr/lib/x86_64-linux-gnu --incdir=/usr/include/x86_64-linux-gnu --arch=amd64 --enable-gpl --disable-stripping --enable-gnutls --enable-ladspa --enable-libaom --enable-libass --enable-libbluray --enable-libbs2b --enable-libcaca --enable-libcdio --enable-libcodec2 --enable-libdav1d --enable-libflite --enable-libfontconfig --enable-libfreetype --enable-libfribidi --enable-libglslang --enable-libgme --enable-libgsm --enable-libjack --enable-libmp3lame --enable-libmysofa --enable-libopenjpeg --enable-libopenmpt --enable-libopus --enable-libpulse --enable-librabbitmq --enable-librist --enable-librubberband --enable-libshine --enable-libsnappy --enable-libsoxr --enable-libspeex --enable-libsrt --enable-libssh --enable-libsvtav1 --enable-libtheora --enable-libtwolame --enable-libvidstab --enable-libvorbis --enable-libvpx --enable-libwebp --enable-libx265 --enable-libxml2 --enable-libxvid --enable-libzimg --enable-libzmq --enable-libzvbi --enable-lv2 --enable-omx --enable-openal --enable-opencl --enable-opengl --enable-sdl2 --disable-sndio --enable-libjxl --enable-pocketsphinx --enable-librsvg --enable-libmfx --enable-libdc1394 --enable-libdrm --enable-libiec61883 --enable-chromaprint --enable-frei0r --enable-libx264 --enable-libplacebo --enable-librav1e --enable-shared',
  '  libavutil      57. 28.100 / 57. 28.100',
  '  libavcodec     59. 37.100 / 59. 37.100',
  '  libavformat    59. 27.100 / 59. 27.100',
  '  libavdevice    59.  7.100 / 59.  7.100',
  '  libavfilter     8. 44.100 /  8. 44.100',
  '  libswscale      6.  7.100 /  6.  7.100',
  '  libswresample   4.  7.100 /  4.  7.100',
  '  libpostproc    56.  6.100 / 56.  6.100',
  "Input #0, lavfi, from 'sine':",
  '  Duration: N/A, start: 0.000000, bitrate: 705 kb/s',
  '  Stream #0:0: Audio: pcm_s16le, 44100 Hz, mono, s16, 705 kb/s',
  'Stream mapping:',
  '  Stream #0:0 -> #0:0 (pcm_s16le (native) -> aac (native))',
  '[mpegts @ 0x557aab229f00] frame size not set',
  "Output #0, mpegts, to '/dev/null':",
  '  Metadata:',
  '    encoder         : Lavf59.27.100',
  '  Stream #0:0: Audio: aac (LC), 44100 Hz, mono, fltp, 69 kb/s',
  '    Metadata:',
  '      encoder         : Lavc59.37.100 aac',
  'size=       0kB time=00:00:00.00 bitrate=N/A speed=N/A    \rsize=       3kB time=00:00:00.46 bitrate=  61.5kbits/s speed=0.924x    \rsize=      10kB time=00:00:00.97 bitrate=  86.4kbits/s speed=0.965x    \rsize=      14kB time=00:00:01.48 bitrate=  74.9kbits/s speed=0.979x    \rsize=      21kB time=00:00:01.97 bitrate=  85.3kbits/s speed=0.975x    \rsize=      22kB time=00:00:02.02 bitrate=  90.1kbits/s speed=0.997x    ',
  'video:0kB audio:17kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: 29.103292%',
  '[aac @ 0x557aab22b0c0] Qavg: 850.860',
].join('\n') + '\n';

// ffmpeg 4.1, same command
const AUDIO_41 = [
  'ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2018 the FFmpeg developers',
  '  built with gcc 6.3.0 (Debian 6.3.0-18+deb9u1) 20170516',
  '  configuration: --enable-gpl --enable-version3 --enable-static --disable-debug --disable-ffplay --disable-indev=sndio --disable-outdev=sndio --cc=gcc-6 --enable-fontconfig --enable-frei0r --enable-gnutls --enable-gray --enable-libaom --enable-libfribidi --enable-libass --enable-libvmaf --enable-libfreetype --enable-libmp3lame --enable-libopencore-amrnb --enable-libopencore-amrwb --enable-libopenjpeg --enable-librubberband --enable-libsoxr --enable-libspeex --enable-libvorbis --enable-libopus --enable-libtheora --enable-libvidstab --enable-libvo-amrwbenc --enable-libvpx --enable-libwebp --enable-libx264 --enable-libx265 --enable-libxml2 --enable-libxvid --enable-libzimg',
  '  libavutil      56. 24.101 / 56. 24.101',
  '  libavcodec     58. 42.100 / 58. 42.100',
  '  libavformat    58. 24.100 / 58. 24.100',
  '  libavdevice    58.  6.101 / 58.  6.101',
  '  libavfilter     7. 46.101 /  7. 46.101',
  '  libswscale      5.  4.100 /  5.  4.100',
  '  libswresample   3.  4.100 /  3.  4.100',
  '  libpostproc    55.  4.100 / 55.  4.100',
  "Input #0, lavfi, from 'sine':",
  '  Duration: N/A, start: 0.000000, bitrate: 705 kb/s',
  '    Stream #0:0: Audio: pcm_s16le, 44100 Hz, mono, s16, 705 kb/s',
  'Stream mapping:',
  '  Stream #0:0 -> #0:0 (pcm_s16le (native) -> aac (native))',
  '[mpegts @ 0x17a19940] frame size not set',
  "Output #0, mpegts, to '/dev/null':",
  '  Metadata:',
  '    encoder         : Lavf58.24.100',
  '    Stream #0:0: Audio: aac (LC), 44100 Hz, mono, fltp, 69 kb/s',
  '    Metadata:',
  '      encoder         : Lavc58.42.100 aac',
  'size=       4kB time=00:00:00.46 bitrate=  64.8kbits/s speed=0.92x    \rsize=      10kB time=00:00:00.97 bitrate=  81.7kbits/s speed=0.962x    \rsize=      13kB time=00:00:01.48 bitrate=  69.8kbits/s speed=0.982x    \rsize=      19kB time=00:00:01.97 bitrate=  78.5kbits/s speed=0.976x    \rsize=      21kB time=00:00:02.02 bitrate=  85.6kbits/s speed=0.998x    ',
  'video:0kB audio:18kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: 16.499622%',
  '[aac @ 0x17a1b140] Qavg: 895.590',
].join('\n') + '\n';

// ffmpeg 5.1: `ffmpeg -nostdin -y -re -i src.mp4 -map 0 -c:v copy -c:a copy -f flv /dev/null -map 0:a -c:a libmp3lame -ac 2 -f mp3 /dev/null`;
// src.mp4 holds H.264 640x360 at 30000/1001 fps and AAC 5.1 tagged eng. Note Output #1 comes after "Stream mapping:".
const COPY_51 = [
  'ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers',
  '  built with gcc 12 (Debian 12.2.0-14+deb12u1)',
  '  configuration: --prefix=/usr --extra-version=0+deb12u1 --toolchain=hardened --libdir=/usr/lib/x86_64-linux-gnu --incdir=/usr/include/x86_64-linux-gnu --arch=amd64 --enable-gpl --disable-stripping --enable-gnutls --enable-ladspa --enable-libaom --enable-libass --enable-libbluray --enable-libbs2b --enable-libcaca --enable-libcdio --enable-libcodec2 --enable-libdav1d --enable-libflite --enable-libfontconfig --enable-libfreetype --enable-libfribidi --enable-libglslang --enable-libgme --enable-libgsm --enable-libjack --enable-libmp3lame --enable-libmysofa --enable-libopenjpeg --enable-libopenmpt --enable-libopus --enable-libpulse --enable-librabbitmq --enable-librist --enable-librubberband --enable-libshine --enable-libsnappy --enable-libsoxr --enable-libspeex --enable-libsrt --enable-libssh --enable-libsvtav1 --enable-libtheora --enable-libtwolame --enable-libvidstab --enable-libvorbis --enable-libvpx --enable-libwebp --enable-libx265 --enable-libxml2 --enable-libxvid --enable-libzimg --enable-libzmq --enable-libzvbi --enable-lv2 --enable-omx --enable-openal --enable-opencl --enable-opengl --enable-sdl2 --disable-sndio --enable-libjxl --enable-pocketsphinx --enable-librsvg --enable-libmfx --enable-libdc1394 --enable-libdrm --enable-libiec61883 --enable-chromaprint --enable-frei0r --enable-libx264 --enable-libplacebo --enable-librav1e --enable-shared',
  '  libavutil      57. 28.100 / 57. 28.100',
  '  libavcodec     59. 37.100 / 59. 37.100',
  '  libavformat    59. 27.100 / 59. 27.100',
  '  libavdevice    59.  7.100 / 59.  7.100',
  '  libavfilter     8. 44.100 /  8. 44.100',
  '  libswscale      6.  7.100 /  6.  7.100',
  '  libswresample   4.  7.100 /  4.  7.100',
  '  libpostproc    56.  6.100 / 56.  6.100',
  'Guessed Channel Layout for Input Stream #0.1 : 5.1',
  "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'src.mp4':",
  '  Metadata:',
  '    major_brand     : isom',
  '    minor_version   : 512',
  '    compatible_brands: isomiso2avc1mp41',
  '    encoder         : Lavf59.27.100',
  '  Duration: 00:00:03.00, start: 0.000000, bitrate: 134 kb/s',
  '  Stream #0:0[0x1](und): Video: h264 (Main) (avc1 / 0x31637661), yuv420p(progressive), 640x360 [SAR 1:1 DAR 16:9], 56 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)',
  '    Metadata:',
  '      handler_name    : VideoHandler',
  '      vendor_id       : [0][0][0][0]',
  '      encoder         : Lavc59.37.100 libx264',
  '  Stream #0:1[0x2](eng): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, 5.1, fltp, 65 kb/s (default)',
  '    Metadata:',
  '      handler_name    : SoundHandler',
  '      vendor_id       : [0][0][0][0]',
  "Output #0, flv, to '/dev/null':",
  '  Metadata:',
  '    major_brand     : isom',
  '    minor_version   : 512',
  '    compatible_brands: isomiso2avc1mp41',
  '    encoder         : Lavf59.27.100',
  '  Stream #0:0(und): Video: h264 (Main) ([7][0][0][0] / 0x0007), yuv420p(progressive), 640x360 [SAR 1:1 DAR 16:9], q=2-31, 56 kb/s, 29.97 fps, 29.97 tbr, 1k tbn (default)',
  '    Metadata:',
  '      handler_name    : VideoHandler',
  '      vendor_id       : [0][0][0][0]',
  '      encoder         : Lavc59.37.100 libx264',
  '  Stream #0:1(eng): Audio: aac (LC) ([10][0][0][0] / 0x000A), 48000 Hz, 5.1, fltp, 65 kb/s (default)',
  '    Metadata:',
  '      handler_name    : SoundHandler',
  '      vendor_id       : [0][0][0][0]',
  'Stream mapping:',
  '  Stream #0:0 -> #0:0 (copy)',
  '  Stream #0:1 -> #0:1 (copy)',
  '  Stream #0:1 -> #1:0 (aac (native) -> mp3 (libmp3lame))',
  "Output #1, mp3, to '/dev/null':",
  '  Metadata:',
  '    major_brand     : isom',
  '    minor_version   : 512',
  '    compatible_brands: isomiso2avc1mp41',
  '    TSSE            : Lavf59.27.100',
  '  Stream #1:0(eng): Audio: mp3, 48000 Hz, stereo, fltp (default)',
  '    Metadata:',
  '      handler_name    : SoundHandler',
  '      vendor_id       : [0][0][0][0]',
  '      encoder         : Lavc59.37.100 libmp3lame',
  'frame=    3 fps=0.0 q=-1.0 size=       7kB time=00:00:00.02 bitrate=2470.5kbits/s speed= 140x    \rframe=   18 fps=0.0 q=-1.0 size=      14kB time=00:00:00.51 bitrate= 218.3kbits/s speed=   1x    \rframe=   33 fps= 32 q=-1.0 size=      21kB time=00:00:01.02 bitrate= 167.7kbits/s speed=1.01x    \rframe=   48 fps= 31 q=-1.0 size=      28kB time=00:00:01.53 bitrate= 151.1kbits/s speed=1.01x    \rframe=   63 fps= 31 q=-1.0 size=      36kB time=00:00:02.04 bitrate= 143.4kbits/s speed=1.01x    \rframe=   79 fps= 31 q=-1.0 size=      43kB time=00:00:02.53 bitrate= 140.0kbits/s speed=   1x    \rframe=   90 fps= 30 q=-1.0 Lsize=      49kB time=00:00:03.02 bitrate= 133.7kbits/s speed=1.01x    ',
  'video:21kB audio:72kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: unknown',
].join('\n') + '\n';

// ffmpeg 5.1: `ffmpeg -nostdin -y -t 1 -f lavfi -i testsrc=size=160x120:rate=10 -f lavfi -t 1 -i sine -filter_complex "[0:v]scale=80:60[v]" -map "[v]" -map 1:a -c:v libx264 -c:a aac -f null -progress pipe:2 -`
const GRAPH_51 = [
  'ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers',
  '  built with gcc 12 (Debian 12.2.0-14+deb12u1)',
  '  configuration: --prefix=/usr --extra-version=0+deb12u1 --toolchain=hardened --libdir=/usr/lib/x86_64-linux-gnu --incdir=/usr/include/x86_64-linux-gnu --arch=amd64 --enable-gpl --disable-stripping --enable-gnutls --enable-ladspa --enable-libaom --enable-libass --enable-libbluray --enable-libbs2b --enable-libcaca --enable-libcdio --enable-libcodec2 --enable-libdav1d --enable-libflite --enable-libfontconfig --enable-libfreetype --enable-libfribidi --enable-libglslang --enable-libgme --enable-libgsm --enable-libjack --enable-libmp3lame --enable-libmysofa --enable-libopenjpeg --enable-libopenmpt --enable-libopus --enable-libpulse --enable-librabbitmq --enable-librist --enable-librubberband --enable-libshine --enable-libsnappy --enable-libsoxr --enable-libspeex --enable-libsrt --enable-libssh --enable-libsvtav1 --enable-libtheora --enable-libtwolame --enable-libvidstab --enable-libvorbis --enable-libvpx --enable-libwebp --enable-libx265 --enable-libxml2 --enable-libxvid --enable-libzimg --enable-libzmq --enable-libzvbi --enable-lv2 --enable-omx --enable-openal --enable-opencl --enable-opengl --enable-sdl2 --disable-sndio --enable-libjxl --enable-pocketsphinx --enable-librsvg --enable-libmfx --enable-libdc1394 --enable-libdrm --enable-libiec61883 --enable-chromaprint --enable-frei0r --enable-libx264 --enable-libplacebo --enable-librav1e --enable-shared',
  '  libavutil      57. 28.100 / 57. 28.100',
  '  libavcodec     59. 37.100 / 59. 37.100',
  '  libavformat    59. 27.100 / 59. 27.100',
  '  libavdevice    59.  7.100 / 59.  7.100',
  '  libavfilter     8. 44.100 /  8. 44.100',
  '  libswscale      6.  7.100 /  6.  7.100',
  '  libswresample   4.  7.100 /  4.  7.100',
  '  libpostproc    56.  6.100 / 56.  6.100',
  "Input #0, lavfi, from 'testsrc=size=160x120:rate=10':",
  '  Duration: N/A, start: 0.000000, bitrate: N/A',
  '  Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 160x120 [SAR 1:1 DAR 4:3], 10 tbr, 10 tbn',
  "Input #1, lavfi, from 'sine':",
  '  Duration: N/A, start: 0.000000, bitrate: 705 kb/s',
  '  Stream #1:0: Audio: pcm_s16le, 44100 Hz, mono, s16, 705 kb/s',
  'Stream mapping:',
  '  Stream #0:0 (rawvideo) -> scale:default (graph 0)',
  '  scale:default (graph 0) -> Stream #0:0 (libx264)',
  '  Stream #1:0 -> #0:1 (pcm_s16le (native) -> aac (native))',
  '[libx264 @ 0x55c2a56c5ac0] using SAR=1/1',
  '[libx264 @ 0x55c2a56c5ac0] using cpu capabilities: MMX2 SSE2Fast SSSE3 SSE4.2 AVX FMA3 BMI2 AVX2 AVX512',
  '[libx264 @ 0x55c2a56c5ac0] profile High 4:4:4 Predictive, level 1.0, 4:4:4, 8-bit',
  "Output #0, null, to 'pipe:':",
  '  Metadata:',
  '    encoder         : Lavf59.27.100',
  '  Stream #0:0: Video: h264, yuv444p(tv, progressive), 80x60 [SAR 1:1 DAR 4:3], q=2-31, 10 fps, 10 tbn',
  '    Metadata:',
  '      encoder         : Lavc59.37.100 libx264',
  '    Side data:',
  '      cpb: bitrate max/min/avg: 0/0/0 buffer size: 0 vbv_delay: N/A',
  '  Stream #0:1: Audio: aac (LC), 44100 Hz, mono, fltp, 69 kb/s',
  '    Metadata:',
  '      encoder         : Lavc59.37.100 aac',
  'frame=    1 fps=0.0 q=0.0 size=N/A time=00:00:00.00 bitrate=N/A speed=   0x    \rframe=1',
  'fps=0.00',
  'stream_0_0_q=0.0',
  'bitrate=N/A',
  'total_size=N/A',
  'out_time_us=0',
  'out_time_ms=0',
  'out_time=00:00:00.000000',
  'dup_frames=0',
  'drop_frames=0',
  'speed=   0x',
  'progress=continue',
  'frame=   10 fps=0.0 q=-1.0 Lsize=N/A time=00:00:01.02 bitrate=N/A speed=21.8x    ',
  'frame=10',
  'fps=0.00',
  'stream_0_0_q=-1.0',
  'bitrate=N/A',
  'total_size=N/A',
  'out_time_us=1021678',
  'out_time_ms=1021678',
  'out_time=00:00:01.021678',
  'dup_frames=0',
  'drop_frames=0',
  'speed=21.8x',
  'progress=end',
  'video:3kB audio:9kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: unknown',
  '[libx264 @ 0x55c2a56c5ac0] frame I:1     Avg QP:27.25  size:  1881',
  '[libx264 @ 0x55c2a56c5ac0] frame P:9     Avg QP:28.39  size:   124',
  '[libx264 @ 0x55c2a56c5ac0] mb I  I16..4: 10.0%  0.0% 90.0%',
  '[libx264 @ 0x55c2a56c5ac0] mb P  I16..4:  0.0%  0.0%  0.0%  P16..4: 33.9%  2.2% 15.0%  0.0%  0.0%    skip:48.9%',
  '[libx264 @ 0x55c2a56c5ac0] 8x8 transform intra:0.0% inter:76.9%',
  '[libx264 @ 0x55c2a56c5ac0] coded y,u,v intra: 68.8% 50.0% 56.2% inter: 18.2% 18.5% 17.1%',
  '[libx264 @ 0x55c2a56c5ac0] i16 v,h,dc,p: 100%  0%  0%  0%',
  '[libx264 @ 0x55c2a56c5ac0] i4 v,h,dc,ddl,ddr,vr,hd,vl,hu: 62% 11% 17%  2%  2%  1%  2%  3%  0%',
  '[libx264 @ 0x55c2a56c5ac0] Weighted P-Frames: Y:0.0% UV:0.0%',
  '[libx264 @ 0x55c2a56c5ac0] ref P L0: 88.3%  8.2%  3.5%',
  '[libx264 @ 0x55c2a56c5ac0] kb/s:23.95',
  '[aac @ 0x55c2a56c6b80] Qavg: 1558.689',
].join('\n') + '\n';

// ffmpeg 4.1: `ffmpeg -nostdin -hide_banner -loglevel level+info -y -t 0.5 -f lavfi -i sine -c:a aac -f null -`
const LEVEL_41 = [
  "[info] Input #0, lavfi, from 'sine':",
  '[info]   Duration: N/A, start: 0.000000, bitrate: 705 kb/s',
  '[info]     Stream #0:0: Audio: pcm_s16le, 44100 Hz, mono, s16, 705 kb/s',
  '[info] Stream mapping:',
  '[info]   Stream #0:0 -> #0:0 (pcm_s16le (native) -> aac (native))',
  "[info] Output #0, null, to 'pipe:':",
  '[info]   Metadata:',
  '[info]     encoder         : Lavf58.24.100',
  '[info]     Stream #0:0: Audio: aac (LC), 44100 Hz, mono, fltp, 69 kb/s',
  '[info]     Metadata:',
  '[info]       encoder         : Lavc58.42.100 aac',
  '[info] size=N/A time=00:00:00.51 bitrate=N/A speed=67.8x    ',
  '[info] video:0kB audio:5kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: unknown',
  '[aac @ 0x175fcf80] [info] Qavg: 122.446',
].join('\n') + '\n';

// ffmpeg 4.1: `ffmpeg -nostdin -hide_banner -i src.mp4` (a probe: no output, no stats line)
const PROBE_41 = [
  'Guessed Channel Layout for Input Stream #0.1 : 5.1',
  "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'src.mp4':",
  '  Metadata:',
  '    major_brand     : isom',
  '    minor_version   : 512',
  '    compatible_brands: isomiso2avc1mp41',
  '    encoder         : Lavf59.27.100',
  '  Duration: 00:00:03.00, start: 0.000000, bitrate: 134 kb/s',
  '    Stream #0:0(und): Video: h264 (Main) (avc1 / 0x31637661), yuv420p, 640x360 [SAR 1:1 DAR 16:9], 56 kb/s, 29.97 fps, 29.97 tbr, 30k tbn, 59.94 tbc (default)',
  '    Metadata:',
  '      handler_name    : VideoHandler',
  '      encoder         : Lavc59.37.100 libx264',
  '    Stream #0:1(eng): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, 5.1, fltp, 65 kb/s (default)',
  '    Metadata:',
  '      handler_name    : SoundHandler',
  'At least one output file must be specified',
].join('\n') + '\n';

/** Feeds a whole capture through a splitter, as the runner does with the stderr pipe. */
function parse(text: string, opts: Partial<ConstructorParameters<typeof FfmpegParser>[0]> = {}): FfmpegParser {
  const parser = new FfmpegParser({ maxLogLines: 50, ...opts });
  const splitter = new LineSplitter((line) => parser.feed(line));
  splitter.push(Buffer.from(text, 'latin1'));
  splitter.flush();
  return parser;
}

function splitAll(chunks: Array<Buffer | string>, max?: number): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line), max);
  for (const chunk of chunks) splitter.push(chunk);
  splitter.flush();
  return lines;
}


function pick<T extends object>(items: T[], keys: Array<keyof T>): Array<Partial<T>> {
  return items.map((item) => Object.fromEntries(keys.filter((k) => k in item).map((k) => [k, item[k]])) as Partial<T>);
}

const IO_KEYS: Array<keyof StreamInfo> = ['kind', 'index', 'stream', 'format', 'address', 'type', 'codec', 'coder'];

test('parser.feed() reads the 5.1 prelude: inputs and outputs with codecs, sizes, rates and layouts', () => {
  const p = parse(AV_51);
  assert.deepEqual(p.inputs, [
    {
      kind: 'input', index: 0, stream: 0, format: 'lavfi', address: 'testsrc=size=320x240:rate=25', type: 'video',
      codec: 'rawvideo', coder: 'rawvideo', pix_fmt: 'rgb24', width: 320, height: 240, fps: 25,
    },
    {
      kind: 'input', index: 1, stream: 0, format: 'lavfi', address: 'sine', type: 'audio', codec: 'pcm_s16le',
      coder: 'pcm_s16le', sampling_hz: 44100, layout: 'mono', channels: 1, bitrate_kbit: 705,
    },
  ]);
  assert.deepEqual(p.outputs, [
    {
      kind: 'output', index: 0, stream: 0, format: 'mpegts', address: '/dev/null', type: 'video', codec: 'h264',
      // 5.1 no longer names the encoder in the stream line; it comes from "Stream mapping:".
      coder: 'libx264', pix_fmt: 'yuv444p', width: 320, height: 240, fps: 25,
    },
    {
      kind: 'output', index: 0, stream: 1, format: 'mpegts', address: '/dev/null', type: 'audio', codec: 'aac',
      coder: 'aac', sampling_hz: 44100, layout: 'mono', channels: 1, bitrate_kbit: 69,
    },
  ]);
});

test('parser.feed() reads the 4.1 prelude (4-space indent, encoder in parentheses, tbc)', () => {
  const p = parse(AV_41);
  // Same run, same answers: the two versions differ only in layout details.
  assert.deepEqual(p.inputs, parse(AV_51).inputs);
  assert.deepEqual(p.outputs, parse(AV_51).outputs);
});

test('parser.feed() takes the encoder from the 4.1 stream line when no mapping names it', () => {
  const p = new FfmpegParser({ maxLogLines: 10 });
  p.feed("Output #0, mpegts, to '/dev/null':");
  p.feed('    Stream #0:0: Video: h264 (libx264), yuv444p, 160x120 [SAR 1:1 DAR 4:3], q=-1--1, 30 fps, 30 tbn, 30 tbc');
  p.feed('    Stream #0:1: Audio: aac (LC), 44100 Hz, mono, fltp, 69 kb/s');
  assert.deepEqual(pick(p.outputs, ['coder']), [{ coder: 'libx264' }, { coder: 'aac' }]);
});

test('parser.feed() reads a stream-copy run: container ids, languages, 5.1 layout, late Output #1', () => {
  const p = parse(COPY_51);
  assert.deepEqual(p.inputs, [
    {
      kind: 'input', index: 0, stream: 0, format: 'mov,mp4,m4a,3gp,3g2,mj2', address: 'src.mp4', type: 'video',
      codec: 'h264', coder: 'h264', language: 'und', pix_fmt: 'yuv420p', width: 640, height: 360,
      bitrate_kbit: 56, fps: 29.97,
    },
    {
      kind: 'input', index: 0, stream: 1, format: 'mov,mp4,m4a,3gp,3g2,mj2', address: 'src.mp4', type: 'audio',
      codec: 'aac', coder: 'aac', language: 'eng', sampling_hz: 48000, layout: '5.1', channels: 6, bitrate_kbit: 65,
    },
  ]);
  // Copied streams keep the codec as coder even though their metadata says "encoder : ... libx264".
  assert.deepEqual(pick(p.outputs, [...IO_KEYS, 'language', 'layout', 'channels']), [
    { kind: 'output', index: 0, stream: 0, format: 'flv', address: '/dev/null', type: 'video', codec: 'h264', coder: 'h264', language: 'und' },
    {
      kind: 'output', index: 0, stream: 1, format: 'flv', address: '/dev/null', type: 'audio', codec: 'aac', coder: 'aac',
      language: 'eng', layout: '5.1', channels: 6,
    },
    {
      kind: 'output', index: 1, stream: 0, format: 'mp3', address: '/dev/null', type: 'audio', codec: 'mp3',
      coder: 'libmp3lame', language: 'eng', layout: 'stereo', channels: 2,
    },
  ]);
});

test('parser.feed() reads filtergraph mappings and ignores -progress key=value blocks', () => {
  const p = parse(GRAPH_51);
  assert.deepEqual(pick(p.outputs, ['codec', 'coder', 'width', 'height']), [
    { codec: 'h264', coder: 'libx264', width: 80, height: 60 },
    { codec: 'aac', coder: 'aac' },
  ]);
  assert.equal(p.progressCount, 2);
  assert.equal(p.progress?.frame, 10);
  assert.equal(p.progress?.time, 1.02);
  for (const [, line] of p.log) assert.doesNotMatch(line, /^(?:frame|fps|out_time\w*|progress|speed|total_size|bitrate|stream_\d)=/);
  assert.equal(p.lastLogline, '[aac @ 0x55c2a56c6b80] Qavg: 1558.689');
});

test('parser.feed() reads a probe run: inputs without any stats line', () => {
  const p = parse(PROBE_41);
  assert.equal(p.progress, null);
  assert.equal(p.progressCount, 0);
  assert.deepEqual(pick(p.inputs, ['type', 'codec', 'fps', 'sampling_hz', 'channels', 'language']), [
    { type: 'video', codec: 'h264', fps: 29.97, language: 'und' },
    { type: 'audio', codec: 'aac', sampling_hz: 48000, channels: 6, language: 'eng' },
  ]);
  assert.deepEqual(p.outputs, []);
  assert.equal(p.prelude.length, PROBE_41.trimEnd().split('\n').length);
  assert.equal(p.lastLogline, 'At least one output file must be specified');
});

test('parser.feed() reads lines prefixed by -loglevel level+info', () => {
  const p = parse(LEVEL_41);
  assert.deepEqual(pick(p.inputs, IO_KEYS), [
    { kind: 'input', index: 0, stream: 0, format: 'lavfi', address: 'sine', type: 'audio', codec: 'pcm_s16le', coder: 'pcm_s16le' },
  ]);
  assert.deepEqual(pick(p.outputs, ['format', 'address', 'codec', 'coder']), [{ format: 'null', address: 'pipe:', codec: 'aac', coder: 'aac' }]);
  assert.equal(p.progressCount, 1);
  assert.equal(p.progress?.time, 0.51);
  assert.equal(p.progress?.speed, 67.8);
  // The prelude ends at the stats line even with the prefix; the raw line stays in the log.
  assert.equal(p.prelude.at(-1), '[info]       encoder         : Lavc58.42.100 aac');
  assert.equal(p.lastLogline, '[aac @ 0x175fcf80] [info] Qavg: 122.446');
});

test('parser.feed() reads a 5.1 video stats line', () => {
  const p = new FfmpegParser({ maxLogLines: 10 });
  p.feed('frame=   26 fps= 25 q=28.0 size=       8kB time=00:00:00.27 bitrate= 232.1kbits/s speed=0.272x    ');
  assert.deepEqual(p.progress, { frame: 26, fps: 25, q: 28, size_kb: 8, time: 0.27, bitrate_kbit: 232.1, speed: 0.272, drop: 0, dup: 0 });
  assert.equal(p.progressCount, 1);
  assert.deepEqual(p.log, []);
  assert.equal(p.lastLogline, '');
});

test('parser.feed() reads the last 5.1 stats line of a whole run (Lsize=, q=-1.0)', () => {
  const p = parse(AV_51);
  assert.equal(p.progressCount, 5);
  assert.deepEqual(p.progress, { frame: 50, fps: 25, q: -1, size_kb: 45, time: 2.02, bitrate_kbit: 183.1, speed: 0.996, drop: 0, dup: 0 });
  assert.equal(p.lastLogline, '[aac @ 0x563653e7d0c0] Qavg: 850.860');
});

test('parser.feed() reads the 4.1 video stats lines of a whole run', () => {
  const p = parse(AV_41);
  assert.equal(p.progressCount, 5);
  assert.deepEqual(p.progress, { frame: 50, fps: 25, q: -1, size_kb: 40, time: 2.02, bitrate_kbit: 160.8, speed: 0.997, drop: 0, dup: 0 });
});

test('parser.feed() reads audio-only stats lines (size= first, no frame=) from 5.1 and 4.1', () => {
  const p5 = new FfmpegParser({ maxLogLines: 10 });
  // First 5.1 line: bitrate and speed are N/A and stay at their previous values (0).
  p5.feed('size=       0kB time=00:00:00.00 bitrate=N/A speed=N/A    ');
  assert.deepEqual(p5.progress, { frame: 0, fps: 0, q: 0, size_kb: 0, time: 0, bitrate_kbit: 0, speed: 0, drop: 0, dup: 0 });
  const whole5 = parse(AUDIO_51);
  assert.equal(whole5.progressCount, 6);
  assert.deepEqual(whole5.progress, { frame: 0, fps: 0, q: 0, size_kb: 22, time: 2.02, bitrate_kbit: 90.1, speed: 0.997, drop: 0, dup: 0 });
  const whole4 = parse(AUDIO_41);
  assert.equal(whole4.progressCount, 5);
  assert.deepEqual(whole4.progress, { frame: 0, fps: 0, q: 0, size_kb: 21, time: 2.02, bitrate_kbit: 85.6, speed: 0.998, drop: 0, dup: 0 });
  assert.deepEqual(pick(whole4.outputs, ['type', 'codec', 'coder', 'sampling_hz', 'layout', 'channels', 'bitrate_kbit']), [
    { type: 'audio', codec: 'aac', coder: 'aac', sampling_hz: 44100, layout: 'mono', channels: 1, bitrate_kbit: 69 },
  ]);
});

test('parser.feed() reads dup= and drop= from 5.1 and 4.1 stats lines', () => {
  const p5 = new FfmpegParser({ maxLogLines: 10 });
  // ffmpeg 5.1: -f lavfi -i testsrc=size=160x120:rate=10 -r 30 -vsync cfr -c:v libx264 -f mpegts /dev/null
  p5.feed('frame=    3 fps=0.0 q=0.0 size=       0kB time=00:00:00.00 bitrate=N/A dup=2 drop=0 speed=N/A    ');
  p5.feed('frame=   30 fps=0.0 q=-1.0 Lsize=      13kB time=00:00:00.90 bitrate= 120.3kbits/s dup=20 drop=0 speed=14.2x    ');
  assert.deepEqual(p5.progress, { frame: 30, fps: 0, q: -1, size_kb: 13, time: 0.9, bitrate_kbit: 120.3, speed: 14.2, drop: 0, dup: 20 });
  const p4 = new FfmpegParser({ maxLogLines: 10 });
  // ffmpeg 4.1: -itsoffset -1 -t 2 -f lavfi -i testsrc=size=160x120:rate=10 -c:v libx264 -copyts -f mpegts /dev/null
  p4.feed('frame=   11 fps=0.0 q=-1.0 Lsize=       6kB time=00:00:00.80 bitrate=  65.8kbits/s dup=0 drop=9 speed=25.5x    ');
  assert.deepEqual(p4.progress, { frame: 11, fps: 0, q: -1, size_kb: 6, time: 0.8, bitrate_kbit: 65.8, speed: 25.5, drop: 9, dup: 0 });
});

test('parser.feed() keeps previous values for N/A fields (size=N/A with -f null, time=N/A)', () => {
  const p = new FfmpegParser({ maxLogLines: 10 });
  p.feed('frame=   26 fps= 25 q=28.0 size=       8kB time=00:00:00.27 bitrate= 232.1kbits/s speed=0.272x    ');
  // Real 5.1 line from a -f null run.
  p.feed('frame=   30 fps=0.0 q=-1.0 Lsize=N/A time=00:00:00.73 bitrate=N/A speed=21.6x    ');
  assert.deepEqual(p.progress, { frame: 30, fps: 0, q: -1, size_kb: 8, time: 0.73, bitrate_kbit: 232.1, speed: 21.6, drop: 0, dup: 0 });
  // Synthetic: what 5.1 prints before any timestamp is known.
  p.feed('frame=    0 fps=0.0 q=0.0 size=N/A time=N/A bitrate=N/A speed=N/A    ');
  assert.equal(p.progress?.time, 0.73);
  assert.equal(p.progress?.frame, 0);
  assert.equal(p.progressCount, 3);
});

test('parser.feed() reads a negative time and a %g speed (synthetic 5.1 lines)', () => {
  const p = new FfmpegParser({ maxLogLines: 10 });
  p.feed('frame=    2 fps=0.0 q=0.0 size=       0kB time=-00:00:00.04 bitrate=N/A speed=N/A    ');
  assert.equal(p.progress?.time, -0.04);
  p.feed('frame= 9000 fps=0.0 q=-1.0 Lsize=   1234kB time=01:02:03.50 bitrate= 200.0kbits/s speed=1.23e+03x    ');
  assert.equal(p.progress?.time, 3723.5);
  assert.equal(p.progress?.speed, 1230);
  assert.equal(p.progress?.size_kb, 1234);
});

test('parser.prelude keeps the lines before the first stats line', () => {
  const p = parse(AV_51);
  const lines = AV_51.split('\n');
  const firstStats = lines.findIndex((l) => l.startsWith('frame='));
  assert.deepEqual(p.prelude, lines.slice(0, firstStats));
  assert.equal(p.prelude.at(-1), '      encoder         : Lavc59.37.100 aac');
});

test('parser.prelude keeps head and tail with a truncation marker between', () => {
  const p = new FfmpegParser({ maxLogLines: 5, preludeHead: 3, preludeTail: 2 });
  for (let i = 1; i <= 10; i++) p.feed(`line ${i}`);
  assert.deepEqual(p.prelude, ['line 1', 'line 2', 'line 3', '... truncated 5 lines ...', 'line 9', 'line 10']);
  p.feed('frame=    1 fps=0.0 q=0.0 size=       0kB time=00:00:00.00 bitrate=N/A speed=   0x    ');
  p.feed('line after');
  assert.deepEqual(p.prelude, ['line 1', 'line 2', 'line 3', '... truncated 5 lines ...', 'line 9', 'line 10']);

  const exact = new FfmpegParser({ maxLogLines: 5, preludeHead: 3, preludeTail: 2 });
  for (let i = 1; i <= 5; i++) exact.feed(`line ${i}`);
  assert.deepEqual(exact.prelude, ['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
});

test('parser.prelude uses 100 head and 50 tail lines by default', () => {
  const p = new FfmpegParser({ maxLogLines: 5 });
  for (let i = 0; i < 1000; i++) p.feed(`line ${i}`);
  const prelude = p.prelude;
  assert.equal(prelude.length, 151);
  assert.equal(prelude[99], 'line 99');
  assert.equal(prelude[100], '... truncated 850 lines ...');
  assert.equal(prelude[150], 'line 999');
});

test('parser.log is a ring of the last maxLogLines non-progress lines with unix-second stamps', () => {
  let ms = 1_700_000_000_999;
  const p = new FfmpegParser({ maxLogLines: 3, now: () => ms });
  p.feed('first');
  ms += 1000;
  p.feed('second');
  p.feed('frame=    1 fps=0.0 q=0.0 size=       0kB time=00:00:00.00 bitrate=N/A speed=   0x    ');
  p.feed('');
  p.feed('   ');
  p.feed('third');
  p.feed('fourth');
  assert.deepEqual(p.log, [
    ['1700000001', 'second'],
    ['1700000001', 'third'],
    ['1700000001', 'fourth'],
  ]);
  // A copy: callers cannot reach into the ring.
  p.log.pop();
  assert.equal(p.log.length, 3);

  const whole = parse(AV_51, { maxLogLines: 50 });
  assert.equal(whole.log.length, 50);
  assert.equal(whole.log.at(-1)?.[1], '[aac @ 0x563653e7d0c0] Qavg: 850.860');
});

test('parser.lastLogline is the last non-progress, non-empty line', () => {
  const p = new FfmpegParser({ maxLogLines: 3 });
  assert.equal(p.lastLogline, '');
  p.feed('[rtsp @ 0x1] method DESCRIBE failed: 404 Not Found');
  p.feed('frame=   50 fps= 25 q=28.0 size=      61kB time=00:00:01.96 bitrate= 254.5kbits/s dup=0 drop=0 speed=0.99x');
  p.feed('');
  p.feed('progress=continue');
  assert.equal(p.lastLogline, '[rtsp @ 0x1] method DESCRIBE failed: 404 Not Found');
});

test('parser.progressIO() maps config ids by file index and spreads the global stats', () => {
  const p = parse(AV_51);
  const outputs = p.progressIO('output', ['out']);
  assert.deepEqual(outputs, [
    {
      id: 'out', address: '/dev/null', index: 0, stream: 0, format: 'mpegts', type: 'video', codec: 'h264', coder: 'libx264',
      frame: 50, keyframe: 0, framerate: { min: 0, max: 0, avg: 0 }, fps: 25, packet: 0, pps: 0, size_kb: 45,
      bitrate_kbit: 183.1, extradata_size_bytes: 0, q: -1, avstream: null, pix_fmt: 'yuv444p', width: 320, height: 240,
    },
    {
      id: 'out', address: '/dev/null', index: 0, stream: 1, format: 'mpegts', type: 'audio', codec: 'aac', coder: 'aac',
      frame: 0, keyframe: 0, framerate: { min: 0, max: 0, avg: 0 }, fps: 0, packet: 0, pps: 0, size_kb: 0,
      bitrate_kbit: 0, extradata_size_bytes: 0, q: 0, avstream: null, sampling_hz: 44100, layout: 'mono', channels: 1,
    },
  ]);
  const inputs = p.progressIO('input', ['video-in', 'audio-in']);
  assert.deepEqual(
    // Core sends q (0 without a value) and avstream (null without a playout proxy) on inputs too.
    inputs.map((io) => [io.id, io.index, io.stream, io.type, io.frame, io.fps, io.size_kb, io.q, io.avstream]),
    [
      ['video-in', 0, 0, 'video', 0, 0, 0, 0, null],
      ['audio-in', 1, 0, 'audio', 0, 0, 0, 0, null],
    ],
  );
  // A file without a config id (more ffmpeg files than config entries) gets an empty id.
  assert.deepEqual(p.progressIO('input', ['only-one']).map((io) => io.id), ['only-one', '']);

  const copy = parse(COPY_51).progressIO('output', ['flv', 'mp3']);
  assert.deepEqual(copy.map((io) => [io.id, io.index, io.stream, io.size_kb]), [
    ['flv', 0, 0, 49],
    ['flv', 0, 1, 0],
    ['mp3', 1, 0, 0],
  ]);
});

test('parser.progressIO() before any stats line has the layout and zero counters', () => {
  const p = parse(PROBE_41);
  const inputs = p.progressIO('input', ['in']);
  assert.equal(inputs.length, 2);
  assert.deepEqual(
    inputs.map((io) => [io.id, io.type, io.width, io.sampling_hz, io.frame, io.size_kb]),
    [
      ['in', 'video', 640, undefined, 0, 0],
      ['in', 'audio', undefined, 48000, 0, 0],
    ],
  );
  assert.deepEqual(new FfmpegParser({ maxLogLines: 1 }).progressIO('output', []), []);
});

test('LineSplitter splits \\r-separated stats chunks cut at random positions', () => {
  const bytes = Buffer.from(AV_51 + AV_41 + GRAPH_51, 'latin1');
  const expected = splitAll([bytes]);
  assert.ok(expected.includes('frame=   26 fps= 25 q=28.0 size=       8kB time=00:00:00.27 bitrate= 232.1kbits/s speed=0.272x    '));
  assert.ok(expected.includes('frame=1'));
  const random = rng(42);
  for (let round = 0; round < 50; round++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      const len = 1 + Math.floor(random() * 64);
      chunks.push(bytes.subarray(at, at + len));
      at += len;
    }
    assert.deepEqual(splitAll(chunks), expected, `round ${round}`);
  }
});

test('LineSplitter treats \\r\\n as one terminator, also across chunks, and accepts strings', () => {
  assert.deepEqual(splitAll(['a\r', '\nb\r\nc\rd\n\ne']), ['a', 'b', 'c', 'd', '', 'e']);
  assert.deepEqual(splitAll(['no terminator']), ['no terminator']);
  assert.deepEqual(splitAll(['x\r']), ['x']);
  assert.deepEqual(splitAll([]), []);
});

test('LineSplitter keeps a multi-byte character split across chunks whole', () => {
  const bytes = Buffer.from("Input #0, flv, from 'rtmp://host/live/ü–stream':\n", 'utf8');
  const at = bytes.indexOf(0xc3) + 1;
  assert.deepEqual(splitAll([bytes.subarray(0, at), bytes.subarray(at)]), ["Input #0, flv, from 'rtmp://host/live/ü–stream':"]);
});

test('LineSplitter cuts an over-long line and goes on with the next', () => {
  const long = 'x'.repeat(100_000);
  const chunks = [`start\n${long.slice(0, 30_000)}`, long.slice(30_000), '\rnext\n'];
  const lines = splitAll(chunks, 1000);
  assert.deepEqual(lines, ['start', 'x'.repeat(1000), 'next']);
  assert.equal(splitAll([long]).at(0)?.length, 16384);
  // An unterminated over-long tail is emitted by flush(), cut as well.
  assert.deepEqual(splitAll([long], 10), ['x'.repeat(10)]);
});

test('parser.feed() does not throw on garbage, huge lines, invalid UTF-8 and partial lines', () => {
  const p = new FfmpegParser({ maxLogLines: 20 });
  const splitter = new LineSplitter((line) => p.feed(line), 4096);
  const random = rng(7);
  const garbage = Buffer.alloc(200_000);
  for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(random() * 256);
  splitter.push(garbage);
  // Text that looks almost like FFmpeg's.
  const nearMisses = [
    'frame=', 'frame= time=', 'size=kB time=::. bitrate=kbits/s speed=x', 'frame=1e99 fps=NaN q=-- size=99999999999999999999999kB time=99999999:99:99.99 speed=Infinityx',
    "Input #0, , from '':", "Input #999999999999, x, from 'y'", "Output #0, to ':", 'Stream #0:0: Video: ', '  Stream #0:0: Audio: , Hz, , ,',
    '  Stream #0:0 -> #0:0 ()', '  Stream #0:0 -> #0:0 ( (native) -> )', ' -> Stream #0:0 ()', '  Stream #9:9[0x](: Data: (((,[[[,)))',
    '[info] ', '[bogus] frame=1 time=00:00:00.00', '\u0000\uFFFD\uD800 lone surrogate', 'x'.repeat(1_000_000),
    "Input #0, x, from '" + ', from '.repeat(50_000) + "':", 'frame=' + ' time=1'.repeat(100_000),
  ];
  for (const line of nearMisses) {
    p.feed(line);
    splitter.push(line.slice(0, line.length >> 1));
  }
  p.feed("Input #0, lavfi, from 'sine':");
  p.feed('  Stream #0:0: Audio: pcm_s16le, 44100 Hz, 7 channels (FL+FR+FC), s16, 705 kb/s');
  p.feed('  Stream #0:1: Video: h264, none, 0x0, 1k fps');
  p.feed(undefined as unknown as string);
  splitter.push(undefined as unknown as Buffer);
  splitter.flush();
  assert.ok(p.log.length <= 20);
  for (const [, line] of p.log) assert.ok(line.length <= 16384);
  assert.ok(p.prelude.length <= 151);
  const sine = p.inputs.filter((s) => s.address === 'sine');
  assert.deepEqual(pick(sine, ['type', 'channels', 'layout', 'width', 'fps', 'pix_fmt']), [
    { type: 'audio', channels: 7, layout: '7 channels (FL+FR+FC)' },
    { type: 'video', width: 0, fps: 1000 },
  ]);
  assert.doesNotThrow(() => [p.progress, p.progressIO('input', []), p.progressIO('output', [])]);
  assert.ok(p.progressCount >= 1);
  for (const value of Object.values(p.progress ?? {})) assert.ok(Number.isFinite(value));
});
