// The emulator's demo page: the Stream Gateway call and the WebSocket signaling (API version 2)
// exactly as the Anbox Streaming SDK performs them, on the browser's own RTCPeerConnection.
// Plain browser JavaScript, served as-is; no external resources.

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_CHANNELS = 5;
const CONTROL = 'control';
/** Control types the Streaming SDK handles itself; any other {type, data} is a v1 message. */
const SDK_CONTROL_TYPES = ['open-camera', 'close-camera', 'enable-microphone', 'disable-microphone', 'show-ime', 'hide-ime', 'vhal-prop-configs', 'vhal-get-answer', 'vhal-set-answer', 'activate-sensor', 'deactivate-sensor'];
const V1_PREVIEW_CHARS = 2000;
/** Chromium's send() throws above 256 KiB; the remote may allow less (sctp.maxMessageSize). */
const MAX_CHUNK = 256 * 1024;
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const OPEN_TIMEOUT_MS = 30_000;
/** As the SDK: ICE "disconnected" for this long ends the session. */
const DISCONNECTED_GRACE_MS = 10_000;
const LOG_LIMIT = 500;
const HEX_PREVIEW_BYTES = 64;

const $ = (id) => document.getElementById(id);
const ui = {
  connectForm: $('connect-form'),
  gateway: $('gateway'),
  token: $('token'),
  channels: $('channels'),
  connect: $('connect'),
  disconnect: $('disconnect'),
  status: $('status'),
  error: $('error'),
  noChannels: $('no-channels'),
  channelList: $('channel-list'),
  sendForm: $('send-form'),
  channelSelect: $('channel-select'),
  message: $('message-input'),
  newline: $('send-newline'),
  binary: $('send-binary'),
  send: $('send'),
  log: $('log'),
  clearLog: $('clear-log'),
};

/** The current session, or null. */
let session = null;

// ---------------------------------------------------------------------------------------------
// Channel names

/** Splits the names field; returns {names} or {error}. */
export function parseChannelNames(text) {
  const names = text.split(/[\s,]+/).filter((n) => n.length > 0);
  if (names.length === 0) return { error: 'Enter at least one channel name.' };
  if (names.length > MAX_CHANNELS) return { error: `At most ${MAX_CHANNELS} channels are allowed (the SDK's limit); you entered ${names.length}.` };
  const seen = new Set();
  for (const name of names) {
    if (name === CONTROL) return { error: '"control" is the SDK\'s own channel; choose another name.' };
    if (name === '.' || name === '..') return { error: `"${name}" is not allowed as a channel name.` };
    if (!NAME_PATTERN.test(name)) {
      return { error: `"${name}" is not a valid channel name: use 1 to 64 characters of A-Z a-z 0-9 . _ -` };
    }
    if (seen.has(name)) return { error: `"${name}" is listed twice.` };
    seen.add(name);
  }
  return { names };
}

// ---------------------------------------------------------------------------------------------
// UI helpers

function setStatus(text, state) {
  ui.status.textContent = text;
  ui.status.dataset.state = state;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
  addLog('error', null, message);
}

function clearError() {
  ui.error.textContent = '';
  ui.error.hidden = true;
}

function timeStamp() {
  const now = new Date();
  const time = document.createElement('time');
  time.dateTime = now.toISOString();
  time.textContent = now.toLocaleTimeString();
  return time;
}

/** kind: 'in' | 'out' | 'info' | 'error' */
function addLog(kind, channel, text) {
  const item = document.createElement('li');
  item.dataset.kind = kind;
  if (channel) item.dataset.channel = channel;
  item.append(timeStamp());
  const arrow = kind === 'in' ? '← ' : kind === 'out' ? '→ ' : kind === 'error' ? 'error: ' : '';
  item.append(document.createTextNode(`${arrow}${channel ? `[${channel}] ` : ''}${text}`));
  ui.log.append(item);
  while (ui.log.children.length > LOG_LIMIT) ui.log.firstElementChild.remove();
  ui.log.scrollTop = ui.log.scrollHeight;
}

function hexPreview(bytes) {
  const shown = Array.from(bytes.subarray(0, HEX_PREVIEW_BYTES), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return bytes.length > HEX_PREVIEW_BYTES ? `${shown} …` : shown;
}

function describeMessage(data) {
  if (typeof data === 'string') return `text (${new TextEncoder().encode(data).length} bytes): ${data}`;
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return `binary (${bytes.length} bytes): ${hexPreview(bytes)}`;
}

function renderChannels() {
  ui.channelList.replaceChildren();
  ui.channelSelect.replaceChildren();
  const channels = session ? [...session.channels.values()] : [];
  ui.noChannels.hidden = channels.length > 0;
  for (const channel of channels) {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'channel-name';
    name.textContent = channel.name;
    const state = document.createElement('span');
    state.className = 'state';
    state.dataset.testid = `state-${channel.name}`;
    state.dataset.state = channel.state;
    state.textContent = channel.state;
    channel.stateElement = state;
    item.append(name, document.createTextNode(': '), state);
    ui.channelList.append(item);
    const option = document.createElement('option');
    option.value = channel.name;
    option.textContent = channel.name;
    ui.channelSelect.append(option);
  }
  updateControls();
}

function setChannelState(channel, state) {
  if (channel.state === state) return;
  channel.state = state;
  if (channel.stateElement) {
    channel.stateElement.dataset.state = state;
    channel.stateElement.textContent = state;
  }
  updateControls();
}

function updateControls() {
  const active = session !== null && !session.ended;
  ui.connect.disabled = active;
  ui.disconnect.disabled = !active;
  const anyOpen = active && [...session.channels.values()].some((c) => c.state === 'open');
  ui.channelSelect.disabled = !anyOpen;
  ui.send.disabled = !anyOpen;
}

// ---------------------------------------------------------------------------------------------
// Gateway

async function createSession(gateway, token) {
  const base = gateway.replace(/\/+$/, '');
  let response;
  try {
    response = await fetch(`${base}/1.0/sessions/`, {
      method: 'POST',
      headers: {
        Accept: 'application/json, text/plain, */*',
        Authorization: `Macaroon root=${token}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({
        app: 'anbox-oob-page',
        region: '',
        joinable: false,
        screen: { width: 1280, height: 720, fps: 60, density: 240 },
        extra_data: null,
      }),
    });
  } catch (error) {
    throw new Error(`Cannot reach the gateway at ${base} (${error.message}). Is the platform running, and is the gateway URL right?`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const serverError = body && typeof body.error === 'string' && body.error ? body.error : '';
  if (response.status === 401 || response.status === 403) {
    throw new Error(`The gateway refused the token (${response.status}${serverError ? `: ${serverError}` : ''}). Use the token the platform printed at start.`);
  }
  if (response.status !== 201) {
    throw new Error(`The gateway answered ${response.status} instead of 201${serverError ? `: ${serverError}` : ''}.`);
  }
  if (!body || body.status !== 'success') throw new Error(`The gateway failed to create a session${serverError ? `: ${serverError}` : ''}.`);
  const metadata = body.metadata || {};
  if (typeof metadata.url !== 'string' || !metadata.url) throw new Error('The gateway answered without a signaling URL.');
  return { id: metadata.id, url: metadata.url, stunServers: Array.isArray(metadata.stun_servers) ? metadata.stun_servers : [] };
}

// ---------------------------------------------------------------------------------------------
// Session: signaling and WebRTC

function sendSignal(s, message) {
  if (s.ws && s.ws.readyState === WebSocket.OPEN) s.ws.send(JSON.stringify(message));
}

function endSession(s, text, failed) {
  if (s.ended) return;
  s.ended = true;
  clearTimeout(s.openTimer);
  clearTimeout(s.disconnectedTimer);
  // A channel that never opened was never a channel: no "foo: closed" chip for it.
  for (const [name, channel] of s.channels) {
    if (channel.everOpened) setChannelState(channel, 'closed');
    else if (channel.state === 'rejected') continue;
    else s.channels.delete(name);
  }
  renderChannels();
  if (s.ws && s.ws.readyState <= WebSocket.OPEN) s.ws.close();
  if (s.pc) s.pc.close();
  if (failed) {
    // The error box says what failed; the status line goes back to what is true now.
    setStatus('Not connected.', 'idle');
    showError(text);
  } else {
    setStatus(text, 'ended');
    addLog('info', null, text);
  }
  updateControls();
}

function failSession(s, message) {
  endSession(s, message, true);
}

function checkAllOpen(s) {
  if (s.ended || s.allOpen) return;
  const channels = [...s.channels.values()];
  if (s.control.readyState === 'open' && channels.every((c) => c.state === 'open')) {
    s.allOpen = true;
    clearTimeout(s.openTimer);
    setStatus(`Connected: ${channels.length === 1 ? 'channel' : 'channels'} ${channels.map((c) => c.name).join(', ')} open.`, 'connected');
    addLog('info', null, `session ${s.id}: all channels open`);
  }
}

function onChannelClosed(s, channel) {
  const wasOpen = channel.state === 'open';
  // Closed by the server before it opened: the name was refused; say so rather than "closed".
  setChannelState(channel, wasOpen || channel.everOpened ? 'closed' : 'rejected');
  if (s.ended || s.stopping) return;
  addLog('info', channel.name, wasOpen ? 'channel closed' : 'channel closed by the server before it opened (was the name rejected?)');
  if ([...s.channels.values()].every((c) => c.state === 'closed' || c.state === 'rejected')) endSession(s, 'The session ended: the server closed every channel.', false);
}

function createChannels(s) {
  // As the SDK: `control` first, then one channel per name, un-negotiated, in order.
  s.control = s.pc.createDataChannel(CONTROL);
  s.control.onopen = () => checkAllOpen(s);
  s.control.onmessage = (event) => {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      msg = { type: '(not JSON)' };
    }
    // Out-of-band data v1 (`anbox-oob send-message`): what the SDK hands to messageReceived(type, data).
    if (typeof msg?.type === 'string' && typeof msg.data === 'string' && !SDK_CONTROL_TYPES.includes(msg.type)) {
      const data = msg.data.length > V1_PREVIEW_CHARS ? `${msg.data.slice(0, V1_PREVIEW_CHARS)} … (${msg.data.length} characters)` : msg.data;
      addLog('in', CONTROL, `v1 message "${msg.type}": ${data}`);
      return;
    }
    addLog('info', CONTROL, `control message: ${msg?.type}`);
  };
  s.control.onclose = () => {
    if (!s.ended && !s.stopping) endSession(s, 'The session ended: the server closed it.', false);
  };
  for (const channel of s.channels.values()) {
    const dc = s.pc.createDataChannel(channel.name);
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = LOW_WATER;
    channel.dc = dc;
    dc.onopen = () => {
      channel.everOpened = true;
      setChannelState(channel, 'open');
      addLog('info', channel.name, 'channel open');
      checkAllOpen(s);
    };
    dc.onclose = () => onChannelClosed(s, channel);
    dc.onerror = (event) => {
      const message = event && event.error && event.error.message ? event.error.message : 'unknown error';
      if (!s.stopping && !s.ended) addLog('error', channel.name, `channel error: ${message}`);
    };
    dc.onmessage = (event) => addLog('in', channel.name, describeMessage(event.data));
  }
}

function addRemoteCandidate(s, message) {
  const candidate = atob(message.candidate);
  if (!candidate) return;
  s.pc
    .addIceCandidate({ candidate, sdpMid: message.sdpMid, sdpMLineIndex: message.sdpMLineIndex })
    .catch((error) => addLog('info', null, `remote candidate not added: ${error.message}`));
}

async function onSignal(s, event) {
  if (s.ended) return;
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    addLog('error', null, 'ignored a signaling message that is not JSON');
    return;
  }
  switch (message.type) {
    case 'resp:discover':
      if (message.max_api_version < 2) {
        failSession(s, `The server supports signaling API version ${message.max_api_version} at most; this page needs 2.`);
        return;
      }
      sendSignal(s, {
        type: 'settings',
        api_version: 2,
        data_channels: [...s.channels.keys()],
        enable_speaker: false,
        enable_microphone: false,
        enable_video: false,
        enable_camera: false,
      });
      break;
    case 'offer':
      try {
        await s.pc.setRemoteDescription({ type: 'offer', sdp: atob(message.sdp) });
        s.remoteDescriptionSet = true;
        const answer = await s.pc.createAnswer();
        await s.pc.setLocalDescription(answer);
        sendSignal(s, { type: 'answer', sdp: btoa(s.pc.localDescription.sdp) });
        for (const pending of s.pendingCandidates.splice(0)) addRemoteCandidate(s, pending);
      } catch (error) {
        failSession(s, `Negotiation failed: ${error.message}`);
      }
      break;
    case 'candidate':
      if (s.remoteDescriptionSet) addRemoteCandidate(s, message);
      else s.pendingCandidates.push(message);
      break;
    case 'error':
      failSession(s, `The signaling server reported an error: ${message.message}`);
      break;
    default:
      break;
  }
}

function onIceConnectionStateChange(s) {
  if (s.ended) return;
  switch (s.pc.iceConnectionState) {
    case 'connected':
    case 'completed':
      clearTimeout(s.disconnectedTimer);
      s.disconnectedTimer = undefined;
      // As the SDK: the WebSocket is not needed once ICE is connected.
      if (s.ws && s.ws.readyState === WebSocket.OPEN) s.ws.close();
      break;
    case 'disconnected':
      if (s.disconnectedTimer === undefined) s.disconnectedTimer = setTimeout(() => failSession(s, 'Lost the WebRTC connection.'), DISCONNECTED_GRACE_MS);
      break;
    case 'failed':
      failSession(s, 'Could not establish a WebRTC connection (ICE failed).');
      break;
    case 'closed':
      endSession(s, 'The session ended.', false);
      break;
    default:
      break;
  }
}

function startSignaling(s, url, stunServers) {
  s.ws = new WebSocket(url);
  s.ws.onopen = () => {
    if (s.ended) return;
    setStatus('Negotiating…', 'connecting');
    s.pc = new RTCPeerConnection({
      iceServers: stunServers.map((server) => ({ urls: server.urls, username: server.username, credential: server.password })),
    });
    s.pc.onicecandidate = (event) => {
      if (event.candidate && event.candidate.candidate) {
        sendSignal(s, {
          type: 'candidate',
          candidate: btoa(event.candidate.candidate),
          sdpMid: event.candidate.sdpMid,
          sdpMLineIndex: event.candidate.sdpMLineIndex,
        });
      }
    };
    s.pc.oniceconnectionstatechange = () => onIceConnectionStateChange(s);
    s.pc.onconnectionstatechange = () => {
      if (!s.ended && s.pc.connectionState === 'failed') failSession(s, 'The WebRTC connection failed.');
    };
    createChannels(s);
    sendSignal(s, { type: 'discover' });
  };
  s.ws.onmessage = (event) => {
    onSignal(s, event).catch((error) => failSession(s, `Signaling failed: ${error.message}`));
  };
  s.ws.onerror = () => {
    if (!s.remoteDescriptionSet) failSession(s, `Cannot talk to the signaling server at ${url}.`);
  };
  s.ws.onclose = (event) => {
    if (!s.ended && !s.remoteDescriptionSet) {
      failSession(s, `The signaling connection closed before negotiation finished (code ${event.code}${event.reason ? `: ${event.reason}` : ''}).`);
    }
  };
}

async function connect() {
  clearError();
  const parsed = parseChannelNames(ui.channels.value);
  if (parsed.error) {
    showError(parsed.error);
    ui.channels.focus();
    return;
  }
  const token = ui.token.value.trim();
  if (!token) {
    showError('Enter the token the platform printed at start.');
    ui.token.focus();
    return;
  }
  const gateway = ui.gateway.value.trim() || window.location.origin;
  const s = {
    id: '',
    ws: null,
    pc: null,
    control: null,
    channels: new Map(parsed.names.map((name) => [name, { name, state: 'connecting', dc: null, stateElement: null, everOpened: false }])),
    pendingCandidates: [],
    remoteDescriptionSet: false,
    allOpen: false,
    ended: false,
    stopping: false,
    openTimer: undefined,
    disconnectedTimer: undefined,
  };
  session = s;
  renderChannels();
  setStatus('Creating a session…', 'connecting');
  s.openTimer = setTimeout(() => failSession(s, `The channels did not open within ${OPEN_TIMEOUT_MS / 1000} s.`), OPEN_TIMEOUT_MS);
  try {
    const created = await createSession(gateway, token);
    if (s.ended) return;
    s.id = created.id;
    addLog('info', null, `session ${created.id} created`);
    startSignaling(s, created.url, created.stunServers);
  } catch (error) {
    failSession(s, error.message);
  }
}

async function disconnect() {
  const s = session;
  if (!s || s.ended) return;
  s.stopping = true;
  setStatus('Disconnecting…', 'connecting');
  // As the SDK's stop(): tell the server on `control`, then close the WebSocket and the peer
  // connection. Closing the peer connection at once would abort SCTP and could drop that last
  // message, so the channels are closed first (RTCDataChannel.close() sends what is buffered,
  // then resets the stream) and the peer connection only once `control` has closed (at most 1 s).
  if (s.control && s.control.readyState === 'open') {
    try {
      s.control.send(JSON.stringify({ type: 'stream::disconnect', data: {} }));
      const control = s.control;
      const closed = new Promise((resolve) => {
        control.addEventListener('close', resolve, { once: true });
        setTimeout(resolve, 1000);
      });
      for (const channel of s.channels.values()) if (channel.dc) channel.dc.close();
      control.close();
      await closed;
    } catch (error) {
      addLog('info', null, `stream::disconnect not sent: ${error.message}`);
    }
  }
  endSession(s, 'Disconnected.', false);
}

// ---------------------------------------------------------------------------------------------
// Sending

function utf8Chunks(text, max) {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return [text];
  const decoder = new TextDecoder();
  const pieces = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + max, bytes.length);
    while (end < bytes.length && end > start && (bytes[end] & 0xc0) === 0x80) end--;
    pieces.push(decoder.decode(bytes.subarray(start, end)));
    start = end;
  }
  return pieces;
}

function waitForLowWater(dc) {
  if (dc.bufferedAmount <= HIGH_WATER) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      dc.removeEventListener('bufferedamountlow', done);
      dc.removeEventListener('close', done);
      resolve();
    };
    dc.addEventListener('bufferedamountlow', done);
    dc.addEventListener('close', done);
  });
}

async function sendMessage() {
  clearError();
  const s = session;
  const channel = s && s.channels.get(ui.channelSelect.value);
  if (!channel || channel.state !== 'open' || !channel.dc) {
    showError(`Channel "${ui.channelSelect.value}" is not open.`);
    return;
  }
  const text = ui.message.value + (ui.newline.checked ? '\n' : '');
  if (text.length === 0) return;
  const dc = channel.dc;
  const max = Math.max(4, Math.min(MAX_CHUNK, (s.pc.sctp && s.pc.sctp.maxMessageSize) || MAX_CHUNK));
  try {
    if (ui.binary.checked) {
      const bytes = new TextEncoder().encode(text);
      for (let start = 0; start < bytes.length; start += max) {
        await waitForLowWater(dc);
        dc.send(bytes.slice(start, start + max));
      }
      addLog('out', channel.name, describeMessage(bytes));
    } else {
      for (const piece of utf8Chunks(text, max)) {
        await waitForLowWater(dc);
        dc.send(piece);
      }
      addLog('out', channel.name, describeMessage(text));
    }
    ui.message.value = '';
  } catch (error) {
    showError(`Sending on "${channel.name}" failed: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring

function init() {
  const params = new URLSearchParams(window.location.search);
  ui.gateway.value = params.get('gateway') || window.location.origin;
  ui.token.value = params.get('token') || '';
  if (params.get('channels')) ui.channels.value = params.get('channels');
  ui.connectForm.addEventListener('submit', (event) => {
    event.preventDefault();
    connect();
  });
  ui.disconnect.addEventListener('click', () => {
    disconnect();
  });
  ui.sendForm.addEventListener('submit', (event) => {
    event.preventDefault();
    sendMessage();
  });
  ui.message.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (!ui.send.disabled) sendMessage();
    }
  });
  ui.clearLog.addEventListener('click', () => ui.log.replaceChildren());
  window.addEventListener('pagehide', () => {
    if (session && !session.ended) disconnect();
  });
  renderChannels();
  document.documentElement.dataset.ready = 'true';
}

init();
