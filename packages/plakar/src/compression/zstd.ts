import { createRequire } from 'node:module'
import type { Codec } from './codec.js'

/**
 * zstd through zstd-napi (native, Node-API). Level 3: on this machine's source-like text it
 * compressed 1 MiB blocks at ~330 MB/s to 21% and 64 KiB blocks to 26%, against ~455 MB/s and
 * 24-27% for level 1 (see docs/plakar-format.md). The level is a writer choice, not part of
 * the format: any zstd frame decodes. One Compressor per thread, reused, saves a context
 * allocation per blob.
 */
export const ZSTD_LEVEL = 3
/** Frames larger than this decompress into a buffer of their own, not the scratch buffer. */
const SCRATCH_MAX = 16 << 20

type ZstdModule = typeof import('zstd-napi')

// zstd-napi is CommonJS; require keeps one loaded copy per thread in both our ESM and CJS builds.
const zstdLib: ZstdModule = createRequire(import.meta.url)('zstd-napi')

type Binding = typeof import('zstd-napi/binding.js')
const binding: Binding = createRequire(import.meta.url)('zstd-napi/binding.js')

export function zstdCodec(level = ZSTD_LEVEL): Codec {
  let compressor: InstanceType<ZstdModule['Compressor']> | undefined
  let decompressor: InstanceType<ZstdModule['Decompressor']> | undefined
  let cctx: InstanceType<Binding['CCtx']> | undefined
  let scratch = Buffer.alloc(0)
  let dctx: InstanceType<Binding['DCtx']> | undefined
  let dscratch = Buffer.alloc(0)
  return {
    compressScratch(data: Uint8Array): Uint8Array {
      if (!cctx) {
        cctx = new binding.CCtx()
        cctx.setParameter(binding.CParameter.compressionLevel, level)
      }
      const bound = binding.compressBound(data.length)
      if (scratch.length < bound) scratch = Buffer.allocUnsafeSlow(bound)
      return scratch.subarray(0, cctx.compress2(scratch, data))
    },
    name: 'zstd',
    tag: 1,
    compress(data: Uint8Array): Uint8Array {
      if (!compressor) {
        compressor = new zstdLib.Compressor()
        compressor.setParameters({ compressionLevel: level })
      }
      return compressor.compress(data)
    },
    decompress(data: Uint8Array): Uint8Array {
      decompressor ??= new zstdLib.Decompressor()
      return decompressor.decompress(data)
    },
    decompressScratch(data: Uint8Array): Uint8Array {
      // A frame that states its size (every one we write) goes into the reused buffer: no
      // allocation per blob, so no garbage for the collector and no fresh pages to fault in.
      const size = binding.getFrameContentSize(data)
      if (size === null || size > SCRATCH_MAX) {
        decompressor ??= new zstdLib.Decompressor()
        return decompressor.decompress(data)
      }
      dctx ??= new binding.DCtx()
      if (dscratch.length < size) dscratch = Buffer.allocUnsafeSlow(Math.max(size, 64 << 10))
      const n = dctx.decompress(dscratch, data)
      if (n !== size) throw new Error(`zstd frame decoded to ${n} bytes, it says ${size}`)
      return dscratch.subarray(0, n)
    },
  }
}
