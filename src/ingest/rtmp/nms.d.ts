// Types for the parts of node-media-server (plain CommonJS, no typings) that drake uses: the RTMP
// protocol engine (handshake, chunk stream, AMF0 commands, FLV tag parsing) and its logger singleton.
declare module 'node-media-server/src/protocol/rtmp.js' {
  export interface NmsAvPacket {
    codec_id: number;
    /** 8 audio, 9 video, 18 script data. */
    codec_type: number;
    /** 0 audio header, 1 audio frame, 2 video header, 3 keyframe, 4 inter frame, 5 metadata. */
    flags: number;
    pts: number;
    dts: number;
    size: number;
    data: Buffer;
  }
  export interface NmsInvoke {
    cmd: string;
    transId: number;
    cmdObj: Record<string, unknown> | null;
    streamName?: unknown;
  }
  class Rtmp {
    connectCmdObj: { app?: unknown; tcUrl?: unknown } | null;
    streamApp: string;
    streamName: string;
    streamId: number;
    inChunkSize: number;
    inPackets: Map<number, unknown>;
    parserPacket: { header: { type: number; length: number; stream_id: number }; payload: Buffer };
    onOutputCallback: (buffer: Buffer) => void;
    onPacketCallback: (packet: NmsAvPacket) => void;
    /** Returns an error text, or null; may also throw on malformed input. */
    parserData(buffer: Buffer): string | null;
    onPublish(invoke: NmsInvoke): void;
    onPlay(invoke: NmsInvoke): void;
    packetAlloc(): void;
    packetParse(): void;
    controlHandler(): void;
    respondPublish(): void;
    respondPlay(): void;
    sendStatusMessage(sid: number, level: string, code: string, description: string): void;
    static createMessage(packet: NmsAvPacket): Buffer;
  }
  export default Rtmp;
}

declare module 'node-media-server/src/core/logger.js' {
  const logger: { level: string; log(message: string, level?: string): void };
  export default logger;
}
