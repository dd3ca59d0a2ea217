import { defineConfig } from 'vitepress';

// Local search only: the site builds and works with no network.
export default defineConfig({
  title: 'comfy-bridge',
  description: 'A simple, safe, documented API in front of ComfyUI',
  cleanUrls: true,
  themeConfig: {
    search: { provider: 'local' },
    nav: [
      { text: 'Quickstart', link: '/quickstart' },
      { text: 'API', link: '/reference/api' },
      { text: 'Configuration', link: '/reference/configuration' },
    ],
    sidebar: [
      { text: 'Start', items: [{ text: 'Quickstart', link: '/quickstart' }, { text: 'Workflows', link: '/workflows' }, { text: 'Client SDK (TypeScript)', link: '/client' }, { text: 'Playground', link: '/playground' }, { text: 'Migrating from the original bridge', link: '/migrating' }] },
      {
        text: 'Reference',
        items: [
          { text: 'HTTP API', link: '/reference/api' },
          { text: 'WebSocket protocol', link: '/websocket' },
          { text: 'Configuration', link: '/reference/configuration' },
          { text: 'Plugins', link: '/reference/plugins' },
        ],
      },
      {
        text: 'Operate and extend',
        items: [
          { text: 'Deployment', link: '/deployment' },
          { text: 'Security', link: '/security' },
          { text: 'Integrations', link: '/integrations' },
          { text: 'Fair share', link: '/fair-share' },
          { text: 'Webhooks', link: '/webhooks' },
          { text: 'Writing a plugin', link: '/writing-a-plugin' },
          { text: 'Architecture', link: '/architecture' },
          { text: 'Performance', link: '/performance' },
        ],
      },
    ],
  },
});
