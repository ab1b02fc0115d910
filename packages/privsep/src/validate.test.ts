import { describe, expect, it } from 'vitest'
import { type DeclaredProcess, type ValidationEnv, validate } from './validate.js'

const proc = (name: string, extra: Partial<DeclaredProcess> = {}): DeclaredProcess => ({
  name,
  isParent: false,
  main: () => {},
  talksTo: [],
  username: undefined,
  chrootPath: undefined,
  declarations: 1,
  ...extra,
})

const env = (over: Partial<ValidationEnv> = {}): ValidationEnv => ({
  euid: 0,
  lookupUser: (name) => (name === '_smtpd' ? { name, uid: 999, gid: 995, home: '/var/empty' } : undefined),
  chrootProblem: (path) => (path === '/var/empty' ? undefined : `chroot directory "${path}" does not exist`),
  ...over,
})

describe('validate', () => {
  it('accepts a good declaration', () => {
    expect(
      validate(
        [
          proc('parent', { isParent: true }),
          proc('crypto', { talksTo: ['parent'], username: '_smtpd', chrootPath: '/var/empty' }),
        ],
        env(),
      ),
    ).toEqual([])
  })

  it('says once that privileges need root, and checks no user or jail then', () => {
    expect(
      validate(
        [proc('parent', { isParent: true }), proc('q', { username: '_nobody', chrootPath: '/nowhere' })],
        env({ euid: 1000 }),
      ),
    ).toEqual(['privilege separation requires root privileges (running as uid 1000)'])
  })

  it('names the process and the user or jail at fault', () => {
    expect(
      validate(
        [
          proc('parent', { isParent: true }),
          proc('q', { username: '_smtpq', chrootPath: '/var/spool/smtpd' }),
        ],
        env(),
      ),
    ).toEqual([
      'child "q": user "_smtpq" does not exist',
      'child "q": chroot directory "/var/spool/smtpd" does not exist',
    ])
  })
})
