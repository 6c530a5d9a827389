/**
 * A count with thousands separators, exactly as `x.toLocaleString('en-US')`
 * writes it ("1,234,567"), without ICU: the first toLocaleString call of a
 * process loads its number formatting, ~20-40 ms that every CLI run paid
 * after the commit to print its report. Non-integers (none of the counts)
 * still go through toLocaleString.
 */
export function grouped (x: number): string {
  if (!Number.isSafeInteger(x)) return x.toLocaleString('en-US')
  const digits = String(Math.abs(x))
  let out = ''
  for (let i = digits.length; i > 0; i -= 3) out = (i > 3 ? ',' : '') + digits.slice(Math.max(0, i - 3), i) + out
  return x < 0 || Object.is(x, -0) ? '-' + out : out
}
