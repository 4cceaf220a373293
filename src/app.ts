// Wires drake together: config → FFmpeg → supervisor (store, stream actors) → gateway.
// main.ts runs it for `npm start`; tests start it in-process on a random port.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ClusterNode } from './actors/cluster/ClusterNode.ts';
import { resolveFfmpeg, type FfmpegBinary } from './actors/supervisor/ffmpegBinary.ts';
import { SkillsCache } from './actors/supervisor/skills.ts';
import { Supervisor, webrtcSettings } from './actors/supervisor/Supervisor.ts';
import { ApiAuth } from './gateway/auth/ApiAuth.ts';
import { DiskFs } from './gateway/fs/DiskFs.ts';
import { MemFs } from './gateway/fs/MemFs.ts';
import { Gateway } from './gateway/Gateway.ts';
import { RtmpServer } from './ingest/rtmp/RtmpServer.ts';
import { SrtServer } from './ingest/srt/SrtServer.ts';
import { WhipIngest } from './ingest/whip/WhipIngest.ts';
import { basicAuthHeader, randomPassword } from './gateway/routes/fsRoutes.ts';
import { buildInfo, DRAKE_VERSION } from './shared/buildInfo.ts';
import { isLoopbackHost, type DrakeConfig } from './shared/config.ts';
import { StartingError, ValidationError } from './shared/errors.ts';
import { Logger, setLogLevel } from './shared/log.ts';

const log = new Logger('drake');

export const VERSION: string = DRAKE_VERSION;

export interface Drake {
  config: DrakeConfig;
  ffmpeg: FfmpegBinary;
  skills: SkillsCache;
  mem: MemFs;
  supervisor: Supervisor;
  gateway: Gateway;
  /** This node's cluster membership; null when cluster.enable is off. */
  cluster: ClusterNode | null;
  /** The built-in RTMP server; null when rtmp.enable is off. */
  rtmp: RtmpServer | null;
  /** The built-in SRT server; null when srt.enable is off. */
  srt: SrtServer | null;
  /** WHIP ingest; null when whip.enable is off. */
  whip: WhipIngest | null;
  url: string;
  close(): Promise<void>;
}

export interface ConfigSource {
  file: string | null;
  raw: Record<string, unknown>;
  overrides: string[];
  /** Restart hook for GET /api/v3/config/reload (npm start provides it). */
  reload?: () => void;
  /** The memfs of the drake this one replaces (reload): its files stay when its limits are unchanged. */
  mem?: MemFs;
}

export async function createDrake(config: DrakeConfig, source: ConfigSource = { file: null, raw: {}, overrides: [] }): Promise<Drake> {
  setLogLevel(config.log.level);
  if (!isLoopbackHost(config.api.host) && !config.api.auth.enable && !config.api.allow_public_without_auth) {
    throw new ValidationError(
      `refusing to serve the admin API without credentials on ${config.api.host}: turn on api.auth ` +
        '(DRAKE_API_AUTH_ENABLE=true; a password is generated and printed if none is set), bind to 127.0.0.1, ' +
        'or set api.allow_public_without_auth if a proxy in front does the auth',
    );
  }
  const ffmpeg = await resolveFfmpeg(config.ffmpeg.binary);
  const skills = new SkillsCache(ffmpeg.path);
  const diskDir = resolve(config.storage.disk.dir);
  mkdirSync(diskDir, { recursive: true });
  const dbDir = resolve(config.db.dir);
  const memCfg = config.storage.memory;
  const memfsAuth = memCfg.auth.enable ? { username: memCfg.auth.username, password: memCfg.auth.password || randomPassword() } : null;
  const memMax = memCfg.max_size_mbytes * 1024 * 1024;
  const mem = source.mem && source.mem.maxBytes === memMax && source.mem.purge === memCfg.purge ? source.mem : new MemFs({ maxBytes: memMax, purge: memCfg.purge });
  const disk = new DiskFs(diskDir);
  const resolved: DrakeConfig = {
    ...config,
    db: { dir: dbDir },
    storage: { ...config.storage, disk: { dir: diskDir }, memory: { ...memCfg, auth: { ...memCfg.auth, password: memfsAuth?.password ?? '' } } },
  };

  // The port must be known before processes start ({memfs} points at it), so listen first on the
  // configured port and hand the supervisor to the gateway's routes once it exists.
  let supervisor: Supervisor | null = null;
  let cluster: ClusterNode | null = null;
  let rtmp: RtmpServer | null = null;
  let srt: SrtServer | null = null;
  const whip = config.whip.enable ? new WhipIngest({ config: config.whip, webrtc: webrtcSettings(config) }) : null;
  const sup = new Proxy({} as Supervisor, {
    get(_t, prop) {
      if (!supervisor) throw new StartingError('drake is still starting: retry in a moment (GET /ping answers pong once the API takes work)');
      const value = Reflect.get(supervisor, prop, supervisor) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(supervisor) : value;
    },
  });
  const instanceId = randomUUID();
  const gateway = new Gateway(sup, {
    host: config.api.host,
    port: config.api.port,
    maxBodyBytes: config.api.max_body_bytes,
    name: config.name,
    version: VERSION,
    build: buildInfo(),
    instanceId,
    startedAt: new Date(),
    iceServers: config.webrtc.ice_servers,
    metrics: config.metrics,
    ready: () => supervisor !== null,
    cluster: () => cluster,
    rtmp: () => rtmp,
    srt: () => srt,
    whip: () => whip,
    auth: ApiAuth.open(config.api.auth, dbDir),
    skills,
    fs: { mem, disk, routes: { memfsAuth, maxWriteBytes: memCfg.max_upload_mbytes * 1024 * 1024, corsOrigin: config.storage.cors.origin } },
    config: {
      config,
      raw: source.raw,
      file: source.file ?? join(dbDir, 'drake.json'),
      overrides: source.overrides,
      loadedAt: new Date(),
      updatedAt: new Date(),
      id: instanceId,
      ...(source.reload ? { reload: source.reload } : {}),
    },
  });
  await gateway.listen();
  try {
    // Before the processes start: those reading {rtmp} or {srt} need its port.
    if (config.rtmp.enable) {
      rtmp = await RtmpServer.start({
        address: config.rtmp.address,
        app: config.rtmp.app,
        token: config.rtmp.token,
        tls: config.rtmp.enable_tls ? { address: config.rtmp.address_tls, certFile: config.tls.cert_file, keyFile: config.tls.key_file } : undefined,
      });
    }
    if (config.srt.enable) srt = SrtServer.start({ address: config.srt.address, passphrase: config.srt.passphrase, token: config.srt.token });
    // {memfs} carries the credentials as Core's does; FFmpeg outputs to it also get them as a header.
    const memfsUrl = memfsAuth
      ? `${gateway.url.replace('://', `://${encodeURIComponent(memfsAuth.username)}:${encodeURIComponent(memfsAuth.password)}@`)}/memfs`
      : `${gateway.url}/memfs`;
    const memfsAuthorization = memfsAuth ? basicAuthHeader(memfsAuth.username, memfsAuth.password) : undefined;
    supervisor = await Supervisor.open({
      config: resolved,
      ffmpeg,
      diskDir,
      memfsUrl,
      filesystems: { mem, disk },
      ...(memfsAuthorization ? { memfsAuthorization } : {}),
      ...(rtmp ? { rtmpUrl: rtmp.urlTemplate } : {}),
      ...(srt ? { srtUrl: srt.urlTemplate } : {}),
      ...(whip ? { whipUrl: `${gateway.url}/whip/{name}/sdp?token=${whip.readerSecret}`, otherViewers: () => whip.viewers } : {}),
      // A cluster node runs a process only once the cluster says it owns it (nothing at all before it
      // has reached Redis): a node coming back must not start what moved while it was away.
      ...(config.cluster.enable ? { gate: (id: string) => cluster?.mayRun(id) ?? false } : {}),
    });
    if (whip) {
      const sup = supervisor;
      whip.on('ended', (name) => void sup.whipPublisherLeft(name).catch(() => undefined));
    }
    if (config.cluster.enable) {
      const sup = supervisor;
      cluster = ClusterNode.start({
        cluster: config.cluster,
        dbDir,
        name: config.name,
        version: VERSION,
        apiUrl: gateway.url,
        apiHost: config.api.host,
        counts: () => sup.counts(),
        supervisor: sup,
        streamSettings: () => sup.streamSettings,
        limits: { maxProcesses: config.ffmpeg.max_processes, maxViewers: config.webrtc.max_viewers_total },
      });
    }
  } catch (err) {
    gateway.close();
    await supervisor?.close();
    await rtmp?.close();
    await srt?.close();
    await whip?.close();
    throw err;
  }
  const opened = supervisor;
  const member = cluster as ClusterNode | null;
  const ingest = rtmp as RtmpServer | null;
  const srtIngest = srt as SrtServer | null;
  let closing: Promise<void> | null = null;
  return {
    config: resolved,
    ffmpeg,
    skills,
    mem,
    supervisor: opened,
    gateway,
    cluster: member,
    rtmp: ingest,
    srt: srtIngest,
    whip,
    url: gateway.url,
    close() {
      closing ??= (async () => {
        gateway.close();
        await member?.close();
        await opened.close();
        // After the processes: their RTMP/SRT inputs end with the FFmpegs, not as a publisher-gone error.
        await ingest?.close();
        await srtIngest?.close();
        await whip?.close();
        log.info('stopped');
      })();
      return closing;
    },
  };
}
