/** Text in `Date.toISOString()` form (how we store every time) is reformatted without a Date. */
const ISO_MILLIS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Azure writes times with seven fractional digits and an explicit offset. */
export function armTime(iso: string | undefined): string | undefined {
  if (!iso) return iso;
  if (ISO_MILLIS.test(iso)) return `${iso.slice(0, -1)}0000+00:00`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$10000+00:00");
}
