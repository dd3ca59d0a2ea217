import type sharpModule from 'sharp';

/**
 * sharp (libvips) is loaded at its first use, not when the plugin registers: importing it costs
 * ~200 ms of start-up (the native module and libvips' own initialisation), and most uploads (plain
 * PNGs, proven while they stream in) never need it. Memoised: the first caller pays, the rest share it.
 */
let loading: Promise<typeof sharpModule> | undefined;

export function loadSharp(): Promise<typeof sharpModule> {
  loading ??= import('sharp').then(({ default: sharp }) => {
    // libvips caches decoded operations by file name; every upload is decoded once, so keep no memory for them.
    sharp.cache(false);
    return sharp;
  });
  return loading;
}
