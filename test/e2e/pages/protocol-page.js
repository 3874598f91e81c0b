// A web client of the Anbox OOB v2 stack, written only from the protocol description
// (/work/shared/reference/anbox-oob-v2.md), NOT from the project's own page or code:
//
//   1. POST {gateway}/1.0/sessions/ with "Authorization: Macaroon root=<token>" → 201,
//      {type:"sync", status:"success", status_code:201, metadata:{id, url, stun_servers:[]}}
//   2. open the signaling WebSocket metadata.url (used unchanged)
//   3. on open: RTCPeerConnection, data channel "control", then one channel per name
//      (un-negotiated, in order), then {"type":"discover"}
//   4. ← resp:discover  → settings {api_version:2, data_channels:[…], enable_*:false}
//   5. ← offer {sdp: b64}  → answer {sdp: b64}
//   6. candidates both ways: {type:"candidate", candidate: b64("candidate:…" without "a="),
//      sdpMid, sdpMLineIndex}
//   7. ← error {message}: the session is aborted
//   8. like the SDK, the WebSocket is closed once the peer connection is connected (unless
//      ?keepSignaling=1: a test that watches how the server ends the signaling keeps it open)
//   9. stop: {"type":"stream::disconnect","data":{}} on "control", then close the peer connection
//
// window.oob is the test's handle:
//   ready: Promise (control open, and every data channel opened or closed) — rejects on failure
//   connect(): starts (done on load unless ?autostart=0); returns `ready`
//   session: {id, url, stunServers, httpStatus} once the gateway answered
//   error: the failure message, if any
//   send(name, stringOrArrayBufferOrView), sendBytes(name, number[])
//   sendControl(object): JSON on "control"
//   received: {name: [{type:'text', data} | {type:'binary', bytes:number[]}]}
//   receivedBytes(name): number[] (text messages as their UTF-8 bytes, binary as is, concatenated)
//   state(name): the channel's readyState ('connecting' | 'open' | 'closing' | 'closed')
//   events: [{t, kind, …}] (channel open/close, signaling, connection state)
//   closeChannel(name); disconnect() (as the SDK's stop()); closePeer() (no stream::disconnect)
//   signals: every signaling message sent and received, in order ({dir:'out'|'in', message})

const params = new URLSearchParams(location.search);
const gateway = (params.get('gateway') ?? '').replace(/\/+$/, '');
const token = params.get('token') ?? '';
const names = params.getAll('channel');
const autostart = params.get('autostart') !== '0';
const keepSignaling = params.get('keepSignaling') === '1';

const statusElement = document.getElementById('status');
const events = [];
const signals = [];
const received = {};
const channels = new Map();
let pc;
let ws;
let control;
let failed;
let signalChain = Promise.resolve();
let remoteDescriptionSet = false;
const pendingRemoteCandidates = [];

let resolveReady;
let rejectReady;
const ready = new Promise((resolve, reject) => {
  resolveReady = resolve;
  rejectReady = reject;
});
// The test may never await it (e.g. when it expects a failure): no unhandled rejection.
ready.catch(() => undefined);

function note(kind, detail = {}) {
  events.push({ t: performance.now(), kind, ...detail });
  statusElement.textContent = events.map((e) => JSON.stringify(e)).join('\n');
}

function fail(message) {
  if (failed !== undefined) return;
  failed = message;
  oob.error = message;
  note('failed', { message });
  rejectReady(new Error(message));
  try {
    ws?.close();
  } catch {
    // ignore
  }
  try {
    pc?.close();
  } catch {
    // ignore
  }
}

// Base64 of UTF-8 text (SDPs and candidate lines are ASCII, but be exact anyway).
function toBase64(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(b64) {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

function sendSignal(message) {
  signals.push({ dir: 'out', message });
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    note('signal-not-sent', { type: message.type });
    return;
  }
  ws.send(JSON.stringify(message));
}

function checkReady() {
  if (failed !== undefined || !control || control.readyState !== 'open') return;
  for (const name of names) {
    const entry = channels.get(name);
    if (!entry || !(entry.opened || entry.closed)) return;
  }
  note('ready');
  resolveReady();
}

function createPeer(stunServers) {
  const iceServers = stunServers.map((s) => {
    const server = { urls: s.urls };
    if (s.username !== undefined) server.username = s.username;
    if (s.password !== undefined) server.credential = s.password;
    return server;
  });
  pc = new RTCPeerConnection({ iceServers });
  pc.onicecandidate = (event) => {
    if (!event.candidate || !event.candidate.candidate) return; // end of candidates
    const line = event.candidate.candidate.replace(/^a=/, '');
    sendSignal({ type: 'candidate', candidate: toBase64(line), sdpMid: event.candidate.sdpMid, sdpMLineIndex: event.candidate.sdpMLineIndex });
  };
  pc.onconnectionstatechange = () => {
    note('connection', { state: pc.connectionState });
    if (pc.connectionState === 'connected' && !keepSignaling && ws && ws.readyState === WebSocket.OPEN) {
      // As the SDK does: signaling is no longer needed once connected.
      ws.close(1000);
    }
    if (pc.connectionState === 'failed') fail('the peer connection failed');
  };

  control = pc.createDataChannel('control');
  control.onopen = () => {
    note('open', { channel: 'control' });
    checkReady();
  };
  control.onclose = () => note('close', { channel: 'control' });
  control.onmessage = (event) => note('control-message', { data: typeof event.data === 'string' ? event.data : '(binary)' });

  for (const name of names) {
    const dc = pc.createDataChannel(name);
    dc.binaryType = 'arraybuffer';
    const entry = { dc, opened: false, closed: false };
    channels.set(name, entry);
    received[name] = [];
    dc.onopen = () => {
      entry.opened = true;
      note('open', { channel: name });
      checkReady();
    };
    dc.onclose = () => {
      entry.closed = true;
      note('close', { channel: name });
      checkReady();
    };
    dc.onerror = (event) => note('channel-error', { channel: name, message: String(event.error?.message ?? event.type) });
    dc.onmessage = (event) => {
      if (typeof event.data === 'string') received[name].push({ type: 'text', data: event.data });
      else if (event.data instanceof ArrayBuffer) received[name].push({ type: 'binary', bytes: Array.from(new Uint8Array(event.data)) });
      else received[name].push({ type: 'unexpected', data: String(event.data) });
    };
  }
}

async function addRemoteCandidate(message) {
  const candidate = fromBase64(message.candidate).replace(/^a=/, '');
  const init = { candidate, sdpMid: message.sdpMid ?? '0', sdpMLineIndex: message.sdpMLineIndex ?? 0 };
  try {
    await pc.addIceCandidate(init);
  } catch (error) {
    note('candidate-refused', { candidate, message: String(error) });
  }
}

async function onSignal(message) {
  if (failed !== undefined) return;
  switch (message.type) {
    case 'resp:discover':
      if (typeof message.max_api_version !== 'number' || message.max_api_version < 2) {
        fail(`the server does not speak signaling API version 2 (max_api_version ${message.max_api_version})`);
        return;
      }
      sendSignal({
        type: 'settings',
        api_version: 2,
        data_channels: names,
        enable_speaker: false,
        enable_microphone: false,
        enable_video: false,
        enable_camera: false,
      });
      return;
    case 'offer': {
      await pc.setRemoteDescription({ type: 'offer', sdp: fromBase64(message.sdp) });
      remoteDescriptionSet = true;
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      sendSignal({ type: 'answer', sdp: toBase64(pc.localDescription.sdp) });
      for (const pending of pendingRemoteCandidates.splice(0)) await addRemoteCandidate(pending);
      return;
    }
    case 'candidate':
      if (!remoteDescriptionSet) pendingRemoteCandidates.push(message);
      else await addRemoteCandidate(message);
      return;
    case 'error':
      fail(`the server reported an error: ${message.message}`);
      return;
    default:
      note('signal-ignored', { type: message.type });
  }
}

async function connect() {
  if (oob.started) return ready;
  oob.started = true;
  try {
    if (!gateway) throw new Error('no ?gateway=');
    const response = await fetch(`${gateway}/1.0/sessions/`, {
      method: 'POST',
      headers: { Authorization: `Macaroon root=${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        app: 'oob-e2e',
        region: '',
        joinable: false,
        screen: { width: 1280, height: 720, fps: 30, density: 240 },
        extra_data: '',
      }),
    });
    let body;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    note('gateway', { status: response.status, body });
    if (response.status !== 201 || !body || body.status !== 'success') {
      throw new Error(`gateway refused: HTTP ${response.status}: ${body?.error ?? JSON.stringify(body)}`);
    }
    const metadata = body.metadata;
    if (!metadata || typeof metadata.url !== 'string' || !Array.isArray(metadata.stun_servers)) {
      throw new Error(`gateway answered without metadata.url / metadata.stun_servers: ${JSON.stringify(body)}`);
    }
    oob.session = { id: metadata.id, url: metadata.url, stunServers: metadata.stun_servers, httpStatus: response.status };

    ws = new WebSocket(metadata.url);
    ws.onopen = () => {
      note('signaling-open');
      try {
        createPeer(metadata.stun_servers);
        sendSignal({ type: 'discover' });
      } catch (error) {
        fail(`cannot create the peer connection: ${error}`);
      }
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        note('signal-malformed', { data: String(event.data).slice(0, 200) });
        return;
      }
      signals.push({ dir: 'in', message });
      signalChain = signalChain.then(() => onSignal(message)).catch((error) => fail(`signaling: ${error}`));
    };
    ws.onerror = () => note('signaling-error');
    ws.onclose = (event) => {
      note('signaling-closed', { code: event.code, reason: event.reason });
      if (!remoteDescriptionSet) fail(`the signaling WebSocket closed before the offer (code ${event.code} ${event.reason})`);
    };
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  return ready;
}

function channel(name) {
  const entry = channels.get(name);
  if (!entry) throw new Error(`no data channel "${name}"`);
  return entry.dc;
}

const oob = {
  ready,
  started: false,
  session: undefined,
  error: undefined,
  events,
  signals,
  received,
  names,
  gateway,
  connect,
  state(name) {
    return name === 'control' ? control?.readyState : channels.get(name)?.dc.readyState;
  },
  send(name, data) {
    channel(name).send(data);
  },
  sendBytes(name, bytes) {
    channel(name).send(new Uint8Array(bytes).buffer);
  },
  sendControl(message) {
    if (!control || control.readyState !== 'open') throw new Error('control is not open');
    control.send(JSON.stringify(message));
  },
  receivedBytes(name) {
    const out = [];
    const encoder = new TextEncoder();
    for (const m of received[name] ?? []) {
      if (m.type === 'text') out.push(...encoder.encode(m.data));
      else if (m.type === 'binary') out.push(...m.bytes);
    }
    return out;
  },
  closeChannel(name) {
    channel(name).close();
  },
  disconnect() {
    if (control && control.readyState === 'open') control.send(JSON.stringify({ type: 'stream::disconnect', data: {} }));
    pc?.close();
    if (ws && ws.readyState === WebSocket.OPEN) ws.close(1000);
  },
  closePeer() {
    pc?.close();
  },
  connectionState() {
    return pc?.connectionState;
  },
  /** Every local candidate gathered so far, from getStats(): [{type, address}] (host, srflx, relay...). */
  async localCandidates() {
    if (!pc) return [];
    const out = [];
    (await pc.getStats()).forEach((report) => {
      if (report.type === 'local-candidate') out.push({ type: report.candidateType, address: report.address });
    });
    return out;
  },
  /** The ICE path in use, from getStats(): each side's candidate type (host/srflx/prflx/relay) and address. */
  async selectedPath() {
    if (!pc) return undefined;
    const stats = await pc.getStats();
    let pairId;
    stats.forEach((report) => {
      if (report.type === 'transport' && report.selectedCandidatePairId) pairId = report.selectedCandidatePairId;
    });
    const pair = pairId ? stats.get(pairId) : undefined;
    if (!pair) return undefined;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    return {
      local: local?.candidateType,
      remote: remote?.candidateType,
      localAddress: `${local?.address}:${local?.port}`,
      remoteAddress: `${remote?.address}:${remote?.port}`,
    };
  },
};

window.oob = oob;
note('loaded', { gateway, channels: names });
if (autostart) void connect();
