/**
 * Where restores land: a tmpfs mounted for the benchmark, or /dev/shm where mounting is not
 * permitted. On this machine's ext4, creating ~50k files after many deletions costs 20-45 s
 * of kernel time for any tool (cp -a included), which would measure the disk, not the tool.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

export class RamDisk {
  private constructor(
    readonly root: string,
    private readonly mounted: boolean,
    readonly description: string,
  ) {}

  static mount(dir: string, bytes: number): RamDisk {
    fs.mkdirSync(dir, { recursive: true })
    try {
      execFileSync('umount', [dir], { stdio: 'ignore' })
    } catch {
      // Nothing was left mounted by an earlier, interrupted run.
    }
    const size = `${Math.ceil(bytes / 2 ** 20) + 256}m`
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' })
      return new RamDisk(dir, true, `a tmpfs mounted at ${dir}`)
    } catch {
      const shm = path.join('/dev/shm', `plakar-bench-${process.pid}`)
      fs.mkdirSync(shm, { recursive: true })
      return new RamDisk(shm, false, `${shm} (mounting a tmpfs was not permitted)`)
    }
  }

  /** An empty directory for one tool's restore. */
  fresh(name: string): string {
    this.clear(name)
    const dir = path.join(this.root, name)
    fs.mkdirSync(dir)
    return dir
  }

  clear(name: string): void {
    fs.rmSync(path.join(this.root, name), { recursive: true, force: true })
  }

  unmount(): void {
    if (this.mounted) execFileSync('umount', [this.root])
    else fs.rmSync(this.root, { recursive: true, force: true })
  }
}
