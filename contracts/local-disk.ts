import { statfsSync } from 'node:fs';

/**
 * File systems on a local disk or in memory (statfs f_type, linux/magic.h): ext2/3/4, XFS, Btrfs, tmpfs,
 * overlayfs, ZFS, F2FS. A call on them waits on the page cache or the local device; on anything else (NFS,
 * SMB, CephFS, a FUSE mount such as s3fs, an unknown type) it may wait on a network for seconds.
 */
const LOCAL_TYPES: ReadonlySet<number> = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630, 0x2fc12fc1, 0xf2f52010]);

/** Whether a statfs type is a local disk's (see LOCAL_TYPES); an unknown type is not. */
export function isLocalDiskType(type: number | bigint): boolean {
  return LOCAL_TYPES.has(Number(type));
}

/**
 * Whether `path` (or, while it does not exist yet, its nearest existing parent) is on a local disk: where a
 * synchronous file call is safe on the event loop. false when it cannot be told.
 */
export function onLocalDisk(path: string): boolean {
  for (let at = path; ; ) {
    try {
      return isLocalDiskType(statfsSync(at).type);
    } catch (error) {
      const parent = at.slice(0, at.lastIndexOf('/')) || '/';
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) return false;
      at = parent;
    }
  }
}
