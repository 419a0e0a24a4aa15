// The seed's page: every click sends one event to the Api through this site's own origin (/api is forwarded).
const sendButton = document.getElementById('send');
const flushButton = document.getElementById('flush');
const counter = document.getElementById('counter');
const log = document.getElementById('log');
let sent = 0;

function addLogLine(text, ok) {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  item.className = ok ? 'ok' : 'failed';
  log.prepend(item);
}

async function postJson(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, payload };
}

sendButton.addEventListener('click', async () => {
  sent += 1;
  counter.textContent = String(sent);
  const event = {
    trafficType: 'user',
    name: 'button_click',
    value: sent,
    properties: { timestamp: new Date().toISOString(), counter: sent, userAgent: navigator.userAgent, page: location.pathname },
  };
  try {
    const { ok, status, payload } = await postJson('/api/track', event);
    if (ok) {
      const flushed = payload.flushed ? `; batch sealed as ${payload.flushed.filename}` : '';
      addLogLine(`event #${sent}: stored (open batch ${payload.batchSize})${flushed}`, true);
    } else {
      addLogLine(`event #${sent}: refused (${status}) ${payload.detail ?? payload.title ?? ''}`, false);
    }
  } catch (error) {
    addLogLine(`event #${sent}: server unreachable (${error.message})`, false);
  }
});

flushButton.addEventListener('click', async () => {
  try {
    const { ok, status, payload } = await postJson('/api/flush');
    if (ok) {
      addLogLine(payload.flushed > 0 ? `flushed ${payload.flushed} events to ${payload.bucket}/${payload.filename}` : 'nothing to flush', true);
    } else {
      addLogLine(`flush failed (${status}) ${payload.detail ?? ''}`, false);
    }
  } catch (error) {
    addLogLine(`flush failed: server unreachable (${error.message})`, false);
  }
});
