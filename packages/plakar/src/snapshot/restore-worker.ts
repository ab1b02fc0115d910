/**
 * A restore worker (worker_threads entry; tsup emits it as dist/restore-worker.{js,cjs}), a
 * worker of the repository's blob pool: the repository's side opens the sealed blobs of each
 * batch (decrypt, decompress, verify against the id) and this writes the files with
 * synchronous system calls: on this kind of machine a thread hand-off per file
 * or per call costs more than the call, so each batch of files is one message each way.
 * The safety rules are the restorer's (restorer.ts): a file is written under a fresh temporary
 * name (O_CREAT|O_EXCL|O_NOFOLLOW, 0600) and renamed into place once complete with its
 * metadata; damaged blobs fail their file with REPO_CORRUPT and are never written.
 */
import * as fs from 'node:fs'
import { SnapshotError } from '../errors.js'
import { writeXattrs } from '../platform/xattr.js'
import { type OpenedBatch, serveBlobPool } from '../repository/blob-pool-worker.js'
import { failureText } from './errno.js'
import {
  FILE_DONE,
  FILE_FAILED,
  FILE_SKIPPED,
  type FileSection,
  getSection,
  RESTORE_PROTOCOL_VERSION,
  type RestoreBatch,
  type RestoreInit,
  type RestoreReply,
  SECTION_FIELDS,
  SECTION_WRITTEN,
} from './restore-protocol.js'

let owners = false
/** Sparse files: zero blocks of this size (aligned in the file) are left as holes. */
const HOLE_BLOCK = 64 * 1024
const zeros = Buffer.alloc(HOLE_BLOCK)
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants

interface OpenFile {
  readonly fd: number
  readonly tmp: Buffer
  pos: number
}

/** Files open across batches (a big file arrives in several). */
const files = new Map<number, OpenFile>()

// Each blob is written out before the next is opened: its content may live in a reused buffer.
function run(blobs: OpenedBatch, msg: RestoreBatch): RestoreReply {
  const n = msg.sections.length / SECTION_FIELDS
  const status = new Uint8Array(n)
  const written = new Float64Array(n)
  const errors: (string | null)[] = new Array(n).fill(null)
  const warnings: (string | null)[] = new Array(n).fill(null)
  const names = Buffer.from(msg.names.buffer, msg.names.byteOffset, msg.names.byteLength)
  let ref = 0
  let bug: string | null = null
  for (let i = 0; i < n; i++) {
    const s = getSection(msg, i)
    const refs = msg.refs.subarray(ref, ref + s.count)
    ref += s.count
    // A later section of a file that failed (or that the main thread aborted) finds it gone.
    if (s.abort || (!s.open && !files.has(s.handle))) {
      discard(s.handle)
      status[i] = FILE_SKIPPED
      continue
    }
    const tmp = names.subarray(s.tmpAt, s.tmpAt + s.tmpLength)
    try {
      let f = files.get(s.handle)
      if (f === undefined) {
        f = { fd: fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600), tmp, pos: 0 }
        files.set(s.handle, f)
      }
      for (const k of refs) {
        const data = blobs.open(k)
        if (s.sparse) writeSparse(f.fd, data, f.pos)
        else writeAll(f.fd, data, f.pos)
        f.pos += data.length
        written[i] = written[i]! + data.length
      }
      if (s.close) {
        warnings[i] = finish(f, s, names.subarray(s.pathAt, s.pathAt + s.pathLength))
        status[i] = FILE_DONE
      } else status[i] = SECTION_WRITTEN
    } catch (err) {
      discard(s.handle)
      status[i] = FILE_FAILED
      const text = failureText(err)
      errors[i] = text ?? String(err)
      if (text === undefined) bug ??= err instanceof Error ? (err.stack ?? err.message) : String(err)
    }
  }
  return { status, written, errors, warnings, bug }
}

/** Size check, metadata (owner before mode: chown clears setuid), then the rename. */
function finish(f: OpenFile, s: FileSection, path: Buffer): string | null {
  files.delete(s.handle)
  let warning: string | null = null
  try {
    if (f.pos !== s.size)
      throw new SnapshotError('SNAPSHOT_CORRUPT', `chunks hold ${f.pos} bytes, the entry says ${s.size}`)
    // A new file written from 0 without gaps has its size already; holes at the end do not.
    if (s.sparse) fs.ftruncateSync(f.fd, f.pos)
    if (owners) fs.fchownSync(f.fd, s.uid, s.gid)
    fs.fchmodSync(f.fd, s.mode)
    if (s.xattrs !== null) {
      const failedNames = writeXattrs(
        f.tmp,
        s.xattrs.map(([k, v]) => [Buffer.from(k), Buffer.from(v)]),
      )
      if (failedNames.length > 0) warning = `extended attributes not restored: ${failedNames.join(', ')}`
    }
    fs.futimesSync(f.fd, s.mtime, s.mtime)
  } catch (err) {
    fs.closeSync(f.fd)
    fs.rmSync(f.tmp, { force: true })
    throw err
  }
  fs.closeSync(f.fd)
  try {
    fs.renameSync(f.tmp, path)
  } catch (err) {
    fs.rmSync(f.tmp, { force: true })
    throw err
  }
  return warning
}

/** Close and remove a file this worker has open (a failure or an abort). */
function discard(handle: number): void {
  const f = files.get(handle)
  if (f === undefined) return
  files.delete(handle)
  try {
    fs.closeSync(f.fd)
  } finally {
    fs.rmSync(f.tmp, { force: true })
  }
}

function writeAll(fd: number, data: Uint8Array, pos: number): void {
  let done = 0
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, pos + done)
}

/**
 * Write `data` at `pos`, skipping the all-zero blocks (aligned on HOLE_BLOCK in the file),
 * which stay holes: ftruncate at the end gives the file its size.
 */
function writeSparse(fd: number, data: Uint8Array, pos: number): void {
  let start = 0
  while (start < data.length) {
    const end = Math.min(data.length, start + HOLE_BLOCK - ((pos + start) % HOLE_BLOCK))
    const block = data.subarray(start, end)
    if (Buffer.compare(block, zeros.subarray(0, block.length)) !== 0) writeAll(fd, block, pos + start)
    start = end
  }
}

serveBlobPool<RestoreInit, RestoreBatch, RestoreReply>((init) => {
  if (init.version !== RESTORE_PROTOCOL_VERSION)
    throw new Error(`restore worker: protocol ${init.version} unsupported`)
  owners = init.owners
  return (blobs, msg) => {
    const reply = run(blobs, msg)
    return { reply, transfer: [reply.status.buffer as ArrayBuffer, reply.written.buffer as ArrayBuffer] }
  }
})
