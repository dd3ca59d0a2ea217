/** A self-contained page: the Redoc bundle is served by this server, so nothing is fetched from the internet. */
export function docsPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>comfy-bridge API reference</title>
  <style>body { margin: 0; font-family: system-ui, sans-serif; }</style>
</head>
<body>
  <div id="redoc"></div>
  <script src="docs/redoc.standalone.js"></script>
  <script>
    Redoc.init('openapi.json', { hideDownloadButton: false, disableSearch: false, expandResponses: '200' }, document.getElementById('redoc'));
  </script>
</body>
</html>
`;
}
