/**
 * The playground's HTML: everything inline or served by this bridge (no font, no CDN). `historyLimit`
 * reaches the script as a data attribute.
 */
export function playgroundPage(historyLimit: number): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>comfy-bridge playground</title>
  <style>${STYLE}</style>
</head>
<body data-history-limit="${historyLimit}">
  <header><h1>comfy-bridge playground</h1><a href="docs">API reference</a></header>
  <section id="auth" hidden>
    <form id="key-form">
      <label for="key">This bridge needs an API key</label>
      <input id="key" type="password" autocomplete="off" placeholder="API key" required>
      <button>Use this key</button>
      <p><small>Kept in this tab only (sessionStorage).</small></p>
      <p id="auth-error" class="error"></p>
    </form>
  </section>
  <main id="app" hidden>
    <section class="run">
      <label for="workflow">Workflow</label>
      <select id="workflow"></select>
      <p id="workflow-description"></p>
      <form id="inputs"></form>
      <div class="actions">
        <button id="run-button" type="submit" form="inputs">Run</button>
        <button id="interrupt" type="button" disabled>Interrupt</button>
      </div>
      <progress id="progress" max="100" value="0"></progress>
      <p id="status" role="status"></p>
      <div id="results"></div>
    </section>
    <aside>
      <h2>Recent</h2>
      <ul id="history"></ul>
    </aside>
  </main>
  <script type="module" src="playground/app.js"></script>
</body>
</html>
`;
}

const STYLE = `
[hidden] { display: none !important; }
:root { color-scheme: light dark; font-family: system-ui, sans-serif; --accent: #4a6cf7; }
body { margin: 0 auto; max-width: 1100px; padding: 1rem 1.5rem; }
header { display: flex; align-items: baseline; justify-content: space-between; }
h1 { font-size: 1.3rem; } h2 { font-size: 1rem; margin-top: 0; }
main { display: grid; grid-template-columns: 1fr 280px; gap: 2rem; }
@media (max-width: 800px) { main { grid-template-columns: 1fr; } }
label { display: block; font-weight: 600; margin: .8rem 0 .2rem; }
label code { font-weight: normal; opacity: .6; margin-left: .5rem; font-size: .8em; }
input, select, textarea, button { font: inherit; padding: .35rem .5rem; box-sizing: border-box; }
input[type=text], input[type=number], input[type=password], select, textarea { width: 100%; }
.field small { display: block; opacity: .7; margin-top: .2rem; }
.drop { border: 2px dashed #8888; border-radius: 8px; padding: .8rem; display: flex; gap: .8rem; align-items: center; flex-wrap: wrap; }
.drop.over { border-color: var(--accent); background: #4a6cf712; }
.drop .preview { max-height: 96px; max-width: 160px; border-radius: 4px; }
.actions { margin: 1rem 0; display: flex; gap: .5rem; }
button { background: var(--accent); color: white; border: 0; border-radius: 6px; padding: .45rem 1.1rem; cursor: pointer; }
button:disabled { opacity: .45; cursor: default; }
#interrupt { background: #c0392b; }
progress { width: 100%; height: 1rem; }
.error { color: #c0392b; }
#results { display: flex; flex-wrap: wrap; gap: 1rem; }
#results .result { max-width: 100%; max-height: 420px; border-radius: 6px; }
figure { margin: 0; } figcaption { font-size: .8rem; opacity: .7; }
#history { list-style: none; padding: 0; margin: 0; }
#history li { display: grid; grid-template-columns: 48px 1fr auto; gap: .2rem .6rem; align-items: center; padding: .3rem 0; border-bottom: 1px solid #8883; font-size: .85rem; }
#history time { grid-column: 2 / 4; opacity: .6; font-size: .75rem; }
.thumb { width: 48px; height: 48px; object-fit: cover; border-radius: 4px; grid-row: span 2; background: #8882; }
.state.completed { color: #27ae60; } .state.failed, .state.interrupted { color: #c0392b; }
`;
