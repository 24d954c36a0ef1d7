import { escapeHtml, page } from './html.js';

// Runs in the browser. Every request goes to this page's own URL (through the proxy: /dav/...),
// with the session cookie the browser holds; the store behind it only ever sees /remote.php/....
const SCRIPT = `
const base = new URL('.', location.href);
const $ = (id) => document.getElementById(id);
let listings = 0;

function log(text) {
  const item = document.createElement('li');
  item.textContent = text;
  $('log').append(item);
}

async function dav(method, url, headers = {}, body) {
  const res = await fetch(url, { method, headers, body });
  const destination = headers.Destination ? ' to ' + new URL(headers.Destination).pathname : '';
  log(method + ' ' + new URL(url).pathname + destination + ': ' + res.status);
  return res;
}

async function list() {
  const res = await dav('PROPFIND', base.href, { Depth: '1' });
  const xml = new DOMParser().parseFromString(await res.text(), 'application/xml');
  const hrefs = [...xml.getElementsByTagNameNS('DAV:', 'response')]
    .map((r) => r.getElementsByTagNameNS('DAV:', 'href')[0]?.textContent.trim() ?? '')
    .filter((href) => new URL(href, base).pathname !== base.pathname);
  const rows = $('files');
  rows.replaceChildren();
  const source = $('source');
  source.replaceChildren();
  for (const href of hrefs) {
    const url = new URL(href, base);
    const name = decodeURIComponent(url.pathname.slice(base.pathname.length));
    const row = rows.insertRow();
    const link = document.createElement('a');
    link.href = url.href;
    link.textContent = name;
    row.insertCell().append(link);
    const shown = document.createElement('code');
    shown.textContent = href;
    row.insertCell().append(shown);
    source.add(new Option(name, url.href));
  }
  document.body.dataset.listings = String(++listings);
}

function submit(id, action) {
  $(id).addEventListener('submit', async (event) => {
    event.preventDefault();
    await action();
    await list();
  });
}

submit('mkcol', () => dav('MKCOL', new URL(encodeURIComponent($('folder').value) + '/', base).href));
submit('put', () =>
  dav('PUT', new URL(encodeURIComponent($('file').value), base).href, {}, $('content').value),
);
submit('move', () =>
  dav('MOVE', $('source').value, {
    Destination: new URL($('target').value.split('/').map(encodeURIComponent).join('/'), base).href,
  }),
);
submit('delete', () => dav('DELETE', $('source').value));
void list();
`;

/**
 * The file manager page the DAV backend answers for GET on a collection: a listing and buttons
 * that create, upload, rename, move and delete with WebDAV requests (MKCOL, PUT, MOVE, DELETE,
 * PROPFIND) sent by the browser through the proxy.
 */
export function filesPage(user: string, path: string): string {
  return page(
    `Files of ${user}`,
    `<h1>Demo DAV: files of <span id="user">${escapeHtml(user)}</span></h1>
<p class="note">A real WebDAV store. The buttons send WebDAV requests from your browser to this
page's address; the proxy adds your credentials and translates the URLs inside them (the store
lives at <code>/remote.php</code>). Path seen by the backend: <code id="path">${escapeHtml(path)}</code></p>
<table><thead><tr><th>Name</th><th>href in the PROPFIND answer</th></tr></thead><tbody id="files"></tbody></table>
<form id="mkcol"><label>Folder <input id="folder" value="reports" required></label>
  <button id="mkcol-button" type="submit">New folder (MKCOL)</button></form>
<form id="put"><label>File <input id="file" value="draft.txt" required></label>
  <label>Content <input id="content" value="Quarterly figures"></label>
  <button id="put-button" type="submit">Upload (PUT)</button></form>
<form id="move"><label>Resource <select id="source"></select></label>
  <label>New name or path <input id="target" value="final.txt" required></label>
  <button id="move-button" type="submit">Rename or move (MOVE)</button></form>
<form id="delete"><button id="delete-button" type="submit">Delete the selected resource (DELETE)</button></form>
<h2>Requests</h2>
<ol id="log" class="note"></ol>
<p><a href="/">Back to the portal</a></p>
<script>${SCRIPT}</script>`,
  );
}
