/** Azure writes times with seven fractional digits and an explicit offset. */
export function armTime(iso: string | undefined): string | undefined {
  if (!iso) return iso;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$10000+00:00");
}
