// The built-in directory store lives beside its contract: results and uploads both fall back to it.
export { DirectoryBlobStore } from '../../contracts/directory-blob-store.js';
