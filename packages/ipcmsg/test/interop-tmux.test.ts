/**
 * Interoperability with a C imsg implementation we did not write: tmux, whose
 * client and server speak imsg (classic dialect, peerid = PROTOCOL_VERSION)
 * over a UNIX socket and pass the client's stdin and stdout as fds.
 * Message numbers and payloads are tmux's (tmux-protocol.h, version 8).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Channel, Listener, type Message, PayloadReader, PayloadWriter } from '@poolp/ipcmsg'
import { afterAll, describe, expect, it } from 'vitest'

const PROTOCOL_VERSION = 8
const MSG = {
  IDENTIFY_FLAGS: 100,
  IDENTIFY_TERM: 101,
  IDENTIFY_TTYNAME: 102,
  IDENTIFY_STDIN: 104,
  IDENTIFY_ENVIRON: 105,
  IDENTIFY_DONE: 106,
  IDENTIFY_CLIENTPID: 107,
  IDENTIFY_CWD: 108,
  IDENTIFY_FEATURES: 109,
  IDENTIFY_STDOUT: 110,
  IDENTIFY_LONGFLAGS: 111,
  COMMAND: 200,
  EXIT: 203,
  EXITED: 204,
  EXITING: 205,
} as const
const CLIENT_CONTROL = 0x2000
const CLIENT_UTF8 = 0x10000

const tmuxVersion = spawnSync('tmux', ['-V'], { encoding: 'utf8' }).stdout?.trim()
const dir = mkdtempSync(join(tmpdir(), 'ipcmsg-tmux-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const i32 = (n: number) => new PayloadWriter().i32(n).finish()
const str = (s: string) => new PayloadWriter().string(s).finish()
const asTmux = { peerid: PROTOCOL_VERSION, pid: -1 }

describe.skipIf(!tmuxVersion)(`interoperability with ${tmuxVersion ?? 'tmux (not installed)'}`, () => {
  it('serves a real tmux client: its fds arrive, our reply sets its exit status', async () => {
    const path = join(dir, 'node-server')
    const seen: Message[] = []
    let argv: string[] = []
    const served = new Promise<void>((resolve, reject) => {
      const listener = Listener.listen(
        path,
        (ch: Channel) => {
          ch.handleUnknown((msg) => {
            seen.push(msg)
            expect(msg.peerid).toBe(PROTOCOL_VERSION)
            if (msg.type === MSG.IDENTIFY_STDOUT) {
              // The client's own stdout, passed to us: write into it.
              writeSync(msg.fd!, 'hello from node\n')
              closeSync(msg.fd!)
            } else if (msg.fd !== undefined) msg.closeFd()
            if (msg.type === MSG.COMMAND) {
              const r = new PayloadReader(msg.payload)
              const argc = r.i32()
              argv = Array.from({ length: argc }, () => r.string())
              r.end()
              ch.message(MSG.EXIT, i32(3), asTmux)
            }
            if (msg.type === MSG.EXITING) ch.message(MSG.EXITED, undefined, asTmux)
          })
          ch.dispatch().then(() => {
            listener.close()
            resolve()
          }, reject)
        },
        { peerids: 'application' },
      )
    })
    const client = spawn('tmux', ['-S', path, 'list-sessions', '-F', 'x'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    client.stdout.on('data', (d) => {
      out += d
    })
    const code = await new Promise<number | null>((resolve) => client.on('exit', resolve))
    await served
    expect(code).toBe(3)
    expect(out).toBe('hello from node\n')
    expect(argv).toEqual(['list-sessions', '-F', 'x'])
    const types = seen.map((m) => m.type)
    expect(types).toContain(MSG.IDENTIFY_DONE)
    const stdin = seen.find((m) => m.type === MSG.IDENTIFY_STDIN)!
    expect(stdin.fd).toBeTypeOf('number')
    const pidMsg = seen.find((m) => m.type === MSG.IDENTIFY_CLIENTPID)!
    expect(new PayloadReader(pidMsg.payload).i32()).toBe(client.pid)
  })

  it('drives a real tmux server: it reads commands from and writes output to fds we pass', async () => {
    const path = join(dir, 'tmux-server')
    execFileSync('tmux', ['-S', path, '-f', '/dev/null', 'new-session', '-d', '-s', 'ipcmsg', 'sleep', '60'])
    try {
      const input = join(dir, 'commands')
      const output = join(dir, 'output')
      writeFileSync(input, 'display-message -p "answer #{version}"\n')
      const ch = Channel.connect(path, { peerids: 'application' })
      const codes: number[] = []
      ch.handleUnknown((msg) => {
        msg.closeFd()
        if (msg.type === MSG.EXIT) {
          codes.push(new PayloadReader(msg.payload).i32())
          ch.message(MSG.EXITING, undefined, asTmux)
        }
        if (msg.type === MSG.EXITED) ch.close()
      })
      ch.message(MSG.IDENTIFY_FLAGS, i32(CLIENT_CONTROL | CLIENT_UTF8), asTmux)
      ch.message(
        MSG.IDENTIFY_LONGFLAGS,
        new PayloadWriter().u64(CLIENT_CONTROL | CLIENT_UTF8).finish(),
        asTmux,
      )
      ch.message(MSG.IDENTIFY_TERM, str('xterm'), asTmux)
      ch.message(MSG.IDENTIFY_FEATURES, i32(0), asTmux)
      ch.message(MSG.IDENTIFY_TTYNAME, str(''), asTmux)
      ch.message(MSG.IDENTIFY_CWD, str('/'), asTmux)
      ch.message(MSG.IDENTIFY_STDIN, undefined, { ...asTmux, fd: openSync(input, 'r') })
      ch.message(MSG.IDENTIFY_STDOUT, undefined, { ...asTmux, fd: openSync(output, 'w') })
      ch.message(MSG.IDENTIFY_CLIENTPID, i32(process.pid), asTmux)
      ch.message(MSG.IDENTIFY_ENVIRON, str('TERM=xterm'), asTmux)
      ch.message(MSG.IDENTIFY_DONE, undefined, asTmux)
      ch.message(MSG.COMMAND, i32(0), asTmux)
      await ch.dispatch()
      expect(codes).toEqual([0])
      const version = tmuxVersion!.replace(/^tmux /, '')
      expect(readFileSync(output, 'utf8')).toContain(`\nanswer ${version}\n`)
    } finally {
      spawnSync('tmux', ['-S', path, 'kill-server'])
    }
  })
})
