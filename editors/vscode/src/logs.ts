import * as vscode from 'vscode';
import { LogNotification, Process, processLabel } from './types';

/** Text kept per process in memory (the tail shown after a trim). */
export const KEEP_BYTES = 256 * 1024;
/** Text appended to one Output channel before it is cut back to the tail. */
export const CHANNEL_MAX_BYTES = 2 * 1024 * 1024;
/** Text waiting for the next flush, per process, at most. */
export const PENDING_MAX_BYTES = 512 * 1024;
/** Flushes to the Output channels at most this often. */
export const FLUSH_MS = 150;

export interface LogStats {
  /** Text received from the server. */
  totalBytes: number;
  /** Bytes the server reported dropped (its own bound). */
  serverDropped: number;
  /** Text appended to the channel, in all. */
  appended: number;
  /** Text skipped because it came faster than the flushes. */
  skipped: number;
  /** What the channel holds now. */
  written: number;
  trims: number;
}

class ProcessLog {
  channel: vscode.OutputChannel | undefined;
  /** The last KEEP_BYTES of text (whole lines). */
  tail = '';
  pending = '';
  pendingDropped = 0;
  /** Bytes appended to the channel since it was created or last trimmed. */
  written = 0;
  totalBytes = 0;
  /** Bytes the server dropped before it could send them (its buffer bound). */
  serverDropped = 0;
  /** Bytes appended to the channel in all / skipped between two flushes. */
  appended = 0;
  skipped = 0;
  trims = 0;
  constructor(public readonly processId: string, public name: string) {}
}

function keepTail(text: string, max: number): { text: string; dropped: number } {
  if (text.length <= max) {
    return { text, dropped: 0 };
  }
  let cut = text.length - max;
  const nl = text.indexOf('\n', cut);
  if (nl !== -1 && nl < text.length - 1) {
    cut = nl + 1;
  }
  return { text: text.slice(cut), dropped: cut };
}

/**
 * One Output channel per process ("Sandport: NAME"), fed by `sandport/log`.
 * Bounded: appends are batched (one per FLUSH_MS), text piling up between
 * two flushes is cut to its tail, and a channel that grew past
 * CHANNEL_MAX_BYTES is replaced by its last KEEP_BYTES.
 */
export class LogChannels implements vscode.Disposable {
  private logs = new Map<string, ProcessLog>();
  private timer: NodeJS.Timeout | undefined;
  private usedNames = new Set<string>();

  constructor(private readonly nameOf: (processId: string) => Process | undefined) {}

  private entry(processId: string): ProcessLog {
    let l = this.logs.get(processId);
    if (!l) {
      const p = this.nameOf(processId);
      l = new ProcessLog(processId, p ? processLabel(p) : processId);
      this.logs.set(processId, l);
    }
    return l;
  }

  private ensureChannel(l: ProcessLog): vscode.OutputChannel {
    if (!l.channel) {
      let name = `Sandport: ${l.name}`;
      if (this.usedNames.has(name)) {
        name = `Sandport: ${l.name} (${l.processId})`;
      }
      this.usedNames.add(name);
      l.channel = vscode.window.createOutputChannel(name);
      if (l.tail) {
        l.channel.append(l.tail);
        l.written = l.tail.length;
      }
    }
    return l.channel;
  }

  /** A `sandport/log` notification. */
  append(n: LogNotification): void {
    const l = this.entry(n.processId);
    let text = n.text;
    if (n.dropped) {
      l.serverDropped += n.dropped;
      text = `[sandport: ${n.dropped} bytes of older output were dropped by the server]\n` + text;
    }
    l.totalBytes += n.text.length;
    l.pending += text;
    if (l.pending.length > PENDING_MAX_BYTES) {
      const k = keepTail(l.pending, PENDING_MAX_BYTES);
      l.pending = k.text;
      l.pendingDropped += k.dropped;
      l.skipped += k.dropped;
    }
    this.ensureChannel(l);
    this.schedule();
  }

  /** The process got a (new) name: channels created later use it. */
  rename(p: Process): void {
    const l = this.logs.get(p.id);
    if (l && !l.channel) {
      l.name = processLabel(p);
    }
  }

  private schedule(): void {
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, FLUSH_MS);
    }
  }

  /** Write what is pending to the channels now. */
  flush(): void {
    for (const l of this.logs.values()) {
      if (!l.pending && !l.pendingDropped) {
        continue;
      }
      let text = l.pending;
      if (l.pendingDropped) {
        text = `[sandport: ${l.pendingDropped} bytes skipped: the process writes faster than the window shows]\n` + text;
      }
      l.pending = '';
      l.pendingDropped = 0;
      l.tail = keepTail(l.tail + text, KEEP_BYTES).text;
      const ch = this.ensureChannel(l);
      l.appended += text.length;
      if (l.written + text.length > CHANNEL_MAX_BYTES) {
        l.trims++;
        const shown = `[sandport: older output trimmed; the full log is in "Sandport: Show Logs" → getLogs]\n` + l.tail;
        ch.replace(shown);
        l.written = shown.length;
      } else {
        ch.append(text);
        l.written += text.length;
      }
    }
  }

  /** Show a process's channel (created empty if it has no output yet). */
  show(p: Process, preserveFocus = false): vscode.OutputChannel {
    const l = this.entry(p.id);
    if (!l.channel) {
      l.name = processLabel(p);
    }
    this.flush();
    const ch = this.ensureChannel(l);
    ch.show(preserveFocus);
    return ch;
  }

  /** Fill a channel that has no output yet (e.g. after a reload). */
  backfill(processId: string, text: string): void {
    const l = this.entry(processId);
    if (l.totalBytes === 0 && !l.tail && text) {
      l.tail = keepTail(text, KEEP_BYTES).text;
      if (l.channel) {
        l.channel.append(l.tail);
        l.written += l.tail.length;
      }
    }
  }

  // For the API / tests.
  text(processId: string): string {
    const l = this.logs.get(processId);
    return l ? l.tail + l.pending : '';
  }
  channelName(processId: string): string | undefined {
    return this.logs.get(processId)?.channel?.name;
  }
  stats(processId: string): LogStats | undefined {
    const l = this.logs.get(processId);
    return l && { totalBytes: l.totalBytes, serverDropped: l.serverDropped, appended: l.appended, skipped: l.skipped, written: l.written, trims: l.trims };
  }

  /** Forget a process: its channel is disposed. True when there was one. */
  remove(processId: string): boolean {
    const l = this.logs.get(processId);
    if (!l) {
      return false;
    }
    if (l.channel) {
      this.usedNames.delete(l.channel.name);
      l.channel.dispose();
    }
    this.logs.delete(processId);
    return true;
  }

  clear(): void {
    for (const l of this.logs.values()) {
      l.channel?.dispose();
    }
    this.logs.clear();
    this.usedNames.clear();
  }

  dispose(): void {
    if (this.timer) {
      clearTimeout(this.timer);
    }
    this.clear();
  }
}
