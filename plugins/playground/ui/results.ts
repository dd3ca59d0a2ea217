import type { AnyWorkflows, ComfyBridgeClient, HistoryItem } from '../../../client/src/index.js';
import { h } from './dom.js';

/** A result file shown inline by its type: image, video, audio, or a link. Fetched with the key, shown from a blob. */
export async function resultElement(client: ComfyBridgeClient<AnyWorkflows>, url: string): Promise<HTMLElement> {
  const blob = await client.results.download(url);
  const src = URL.createObjectURL(blob);
  const name = decodeURIComponent(url.split('/').at(-1) ?? 'result');
  const media = blob.type.startsWith('image/')
    ? h('img', { src, alt: name, class: 'result' })
    : blob.type.startsWith('video/')
      ? h('video', { src, controls: true, class: 'result' })
      : blob.type.startsWith('audio/')
        ? h('audio', { src, controls: true })
        : h('span', {}, name);
  return h('figure', {}, media, h('figcaption', {}, h('a', { href: src, download: name }, name)));
}

/** One row of recent history: a thumbnail of its first image, the workflow, the state and when. */
export async function historyRow(client: ComfyBridgeClient<AnyWorkflows>, item: HistoryItem): Promise<HTMLElement> {
  const when = new Date(item.timestamp).toLocaleTimeString();
  let thumbnail: HTMLElement = h('span', { class: 'thumb empty' });
  if (item.result_url) {
    const blob = await client.results.download(item.result_url).catch(() => undefined);
    if (blob?.type.startsWith('image/')) thumbnail = h('img', { class: 'thumb', src: URL.createObjectURL(blob), alt: item.workflow });
  }
  return h('li', { 'data-id': item.id, 'data-status': item.status }, thumbnail, h('span', {}, item.workflow), h('span', { class: `state ${item.status}` }, item.status), h('time', {}, when));
}
