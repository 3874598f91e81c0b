/**
 * Which path ICE picked, for the logs: `host` (direct), `srflx`/`prflx` (through a NAT), `relay`
 * (through a TURN server). Tests assert the relay path with it; operators see why a session is
 * slow. node-datachannel answers null before ICE has chosen, and the native call must never throw
 * into a callback (that aborts the process), hence the guard.
 */
export interface CandidatePairInfo {
  /** This side's candidate type: host | srflx | prflx | relay. */
  local: string;
  /** The other side's candidate type, as this side learnt it (a relay may show as prflx). */
  remote: string;
  /** e.g. "10.1.2.3:49160" */
  localAddress: string;
  remoteAddress: string;
}

interface SelectedPairSource {
  getSelectedCandidatePair(): { local: { type: string; address: string; port: number }; remote: { type: string; address: string; port: number } } | null;
}

export function selectedCandidatePair(pc: SelectedPairSource): CandidatePairInfo | undefined {
  try {
    const pair = pc.getSelectedCandidatePair();
    if (!pair) return undefined;
    return {
      local: pair.local.type,
      remote: pair.remote.type,
      localAddress: `${pair.local.address}:${pair.local.port}`,
      remoteAddress: `${pair.remote.address}:${pair.remote.port}`,
    };
  } catch {
    return undefined;
  }
}
