// Extended attributes live in the platform layer (the repository's file readers use them too).
export { readXattrs, writeXattrs } from '../platform/xattr.js'
