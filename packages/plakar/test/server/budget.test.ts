/** The byte budget a session process shares among its connections: bounded, and in turn. */
import { describe, expect, it } from 'vitest'
import { ByteBudget } from '../../src/server/session.js'

describe('ByteBudget', () => {
  it('hands out room first come, first served: a large request is not overtaken by small ones', () => {
    const budget = new ByteBudget(100)
    const granted: string[] = []
    expect(budget.take(60, () => {})).toBe(true)
    expect(budget.take(80, () => granted.push('large'))).not.toBe(true)
    // Fits now, but the large one waits before it.
    expect(budget.take(10, () => granted.push('small'))).not.toBe(true)
    budget.release(60)
    expect(granted).toEqual(['large', 'small'])
    expect(budget.used).toBe(90)
  })

  it('lets one request larger than the whole budget through alone', async () => {
    const budget = new ByteBudget(100)
    await budget.acquire(500)
    let second = false
    const waiting = budget.acquire(1).then(() => {
      second = true
    })
    await Promise.resolve()
    expect(second).toBe(false)
    budget.release(500)
    await waiting
    expect(budget.used).toBe(1)
  })

  it('a waiter that stops waiting lets the next one in', () => {
    const budget = new ByteBudget(100)
    const granted: string[] = []
    budget.take(90, () => {})
    const stop = budget.take(50, () => granted.push('gone'))
    budget.take(5, () => granted.push('next'))
    expect(typeof stop).toBe('function')
    if (stop !== true) stop()
    expect(granted).toEqual(['next'])
    expect(budget.used).toBe(95)
  })
})
