import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from './duration.ts';

test('Go-style durations in milliseconds', () => {
  const rows: [string, number | null][] = [
    ['60s', 60_000],
    ['4h', 14_400_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['0', 0],
    ['0s', 0],
    ['90s', 90_000],
    ['2m0.5s', 120_500],
    ['1500us', 1],
    ['', null],
    ['4 hours', null],
    ['h', null],
    ['1d', null],
    ['-1s', null],
    ['1h ', null],
    ['s1', null],
    ['10', null],
  ];
  for (const [text, want] of rows) assert.equal(parseDuration(text), want, text);
});
