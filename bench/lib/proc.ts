// Linux /proc readers: CPU time (all threads of a process), RSS, children, machine-wide CPU.
// Everything returns null / [] instead of throwing when a process is gone.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Clock ticks per second for utime/stime (USER_HZ; 100 on practically every Linux). */
export const CLK_TCK: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields after it start after the last ')'.
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** utime + stime of the whole process (every thread), in seconds; null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  const f = statFields(pid);
  if (!f) return null;
  // After ')': [0]=state [1]=ppid ... [11]=utime [12]=stime (fields 14 and 15 of proc(5)).
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

export function parentOf(pid: number): number | null {
  const f = statFields(pid);
  return f ? Number(f[1]) : null;
}

function statusField(pid: number, name: string): string | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${name}:`));
    return line ? line.slice(name.length + 1).trim() : null;
  } catch {
    return null;
  }
}

/** Resident set size in MiB (VmRSS), null when the process is gone. */
export function rssMiB(pid: number): number | null {
  const v = statusField(pid, 'VmRSS');
  return v ? Number(v.split(/\s+/)[0]) / 1024 : null;
}

export function threadCount(pid: number): number | null {
  const v = statusField(pid, 'Threads');
  return v ? Number(v) : null;
}

export function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Direct children, from /proc/<pid>/task/<tid>/children (children of every thread), falling back to a /proc scan. */
export function childrenOf(pid: number): number[] {
  const out = new Set<number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const c of text ? text.split(/\s+/) : []) out.add(Number(c));
    }
    return [...out];
  } catch {
    // Kernel without CONFIG_PROC_CHILDREN: scan.
  }
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (parentOf(Number(name)) === pid) out.add(Number(name));
  }
  return [...out];
}

export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const todo = childrenOf(pid);
  while (todo.length) {
    const p = todo.shift()!;
    out.push(p);
    todo.push(...childrenOf(p));
  }
  return out;
}

/** Machine-wide jiffies from the first line of /proc/stat (all cores together). */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest and guest_nice are already in user/nice).
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const idleAll = idle + iowait;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idleAll };
}

export function alive(pid: number): boolean {
  const f = statFields(pid);
  return f !== null && f[0] !== 'Z';
}

/** Machine-wide UDP counters from /proc/net/snmp (receive-buffer overflows show up as RcvbufErrors). */
export function udpCounters(): Record<string, number> {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/).slice(1);
    const values = lines[1]!.split(/\s+/).slice(1).map(Number);
    return Object.fromEntries(names.map((n, i) => [n, values[i] ?? 0]));
  } catch {
    return {};
  }
}

/** What each open fd of a process points at (`socket:[123]`, `pipe:[45]`, a path...); [] when it is gone. */
function fdTargets(pid: number): string[] {
  const out: string[] = [];
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        out.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return out;
}

const SOCKET = /^socket:\[(\d+)\]$/;

function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  for (const t of fdTargets(pid)) {
    const m = SOCKET.exec(t);
    if (m) out.add(m[1]!);
  }
  return out;
}

/** UDP receive drops (socket buffer full) summed over the UDP sockets a process holds now, and how many it holds. */
export function udpDrops(pid: number): { sockets: number; drops: number } {
  const inodes = socketInodes(pid);
  let sockets = 0;
  let drops = 0;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      if (!inodes.has(f[9]!)) continue;
      sockets++;
      drops += Number(f[12]);
    }
  }
  return { sockets, drops };
}

/** A process's open file descriptors by what they are: udp, tcp, unix, other sockets, pipe, anon (eventfd, epoll, ...), file, other. */
export function fdKinds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  const inodes = new Map<string, string>();
  for (const [file, kind] of [
    ['udp', 'udp'],
    ['udp6', 'udp'],
    ['tcp', 'tcp'],
    ['tcp6', 'tcp'],
  ] as const) {
    try {
      for (const line of readFileSync(`/proc/${pid}/net/${file}`, 'utf8').split('\n').slice(1)) {
        const inode = line.trim().split(/\s+/)[9];
        if (inode) inodes.set(inode, kind);
      }
    } catch {
      // no such table
    }
  }
  try {
    for (const line of readFileSync(`/proc/${pid}/net/unix`, 'utf8').split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[6];
      if (inode) inodes.set(inode, 'unix');
    }
  } catch {
    // none
  }
  for (const target of fdTargets(pid)) {
    const socket = SOCKET.exec(target);
    const kind = socket ? (inodes.get(socket[1]!) ?? 'socket') : target.startsWith('pipe:') ? 'pipe' : target.startsWith('anon_inode:') ? 'anon' : target.startsWith('/') ? 'file' : 'other';
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}

/** CPU seconds per thread (tid → utime+stime) of a process. */
export function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
        out.set(Number(tid), (Number(f[11]) + Number(f[12])) / CLK_TCK);
      } catch {
        // thread ended
      }
    }
  } catch {
    // process gone
  }
  return out;
}
