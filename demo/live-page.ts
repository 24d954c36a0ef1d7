import { escapeHtml, page } from './html.js';

// Runs in the browser. The socket goes to this page's own address (through the proxy: /mail/live),
// carrying the session cookie the browser holds, as any request from the page would.
const SCRIPT = `
const $ = (id) => document.getElementById(id);
const url = new URL(location.href);
url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
url.hash = '';
let ticks = 0;
const socket = new WebSocket(url);

socket.addEventListener('open', () => {
  $('state').textContent = 'open';
  $('send').disabled = false;
});
socket.addEventListener('message', (event) => {
  const message = JSON.parse(event.data);
  if (message.type === 'hello') {
    $('socket-user').textContent = message.user;
  } else if (message.type === 'tick') {
    $('clock').textContent = new Date(message.time).toLocaleTimeString();
    document.body.dataset.ticks = String(++ticks);
  } else if (message.type === 'echo') {
    const item = document.createElement('li');
    item.textContent = message.text;
    $('echoes').append(item);
  }
});
socket.addEventListener('close', (event) => {
  $('state').textContent = 'closed, code ' + event.code + (event.reason ? ' (' + event.reason + ')' : '');
  $('send').disabled = true;
  document.body.dataset.closed = String(event.code);
  // 4401: the proxy ended the socket because the session ended.
  if (event.code === 4401) $('ended').hidden = false;
});
$('echo').addEventListener('submit', (event) => {
  event.preventDefault();
  socket.send($('text').value);
});
`;

/**
 * The mail backend's live page: a clock and an echo over a WebSocket opened to the page's own
 * address, which the proxy authenticates like any request and closes (4401) when the session ends.
 */
export function livePage(user: string, recheckSeconds: number): string {
  return page(
    `Live clock of ${user}`,
    `<h1>Demo Mail: live clock of <span id="user">${escapeHtml(user)}</span></h1>
<p class="note">This page opened a WebSocket to its own address. The proxy checked the handshake
like any request (cookie, JWT, session) and handed the backend <code>Authorization: Basic …</code>
for <strong id="socket-user"></strong>; the backend sends the time every second and echoes what you
send. Log out in another tab: the proxy closes this socket with code 4401, at once with in-memory
sessions, within ${recheckSeconds} s with Redis (its recheck interval).</p>
<p>Socket: <strong id="state">connecting</strong> · Time: <strong id="clock">–</strong></p>
<p id="ended" class="error" hidden>Your session ended. <a href="/">Log in again</a></p>
<form id="echo"><label>Message <input id="text" value="hello" maxlength="200" required></label>
  <button id="send" type="submit" disabled>Send</button></form>
<ol id="echoes" class="note"></ol>
<p><a href="./">Inbox</a> · <a href="/">Back to the portal</a></p>
<script>${SCRIPT}</script>`,
  );
}
