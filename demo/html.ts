/** Escapes text for HTML; every dynamic value on the demo's pages goes through it. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** A whole page in the demo's look. `body` must already be escaped. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.6rem; }
  table { border-collapse: collapse; } td, th { padding: .25rem .75rem; border-bottom: 1px solid #ddd; text-align: left; }
  form.inline { display: inline; }
  label { display: block; margin: .5rem 0; }
  input { font: inherit; padding: .25rem .5rem; }
  button { font: inherit; padding: .3rem 1rem; cursor: pointer; }
  .error { color: #b00020; }
  .note { color: #555; font-size: .9rem; }
  code { background: #f3f3f3; padding: 0 .25rem; }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}
