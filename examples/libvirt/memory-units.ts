/**
 * A memory size as a domain XML writes it (<memory unit='MiB'>512</memory>)
 * turned into KiB with libvirt's rules and refusals (recorded from
 * libvirtd 9.0): decimal digits only, an optional leading '+' and leading
 * blanks; units b/bytes, k/KiB (the default), KB, m/MiB, MB ... e/EiB, EB,
 * case-insensitive; bytes rounded up to whole KiB; at most 2^53 - 1 KiB.
 */
import { invalidValue, tooLarge, unknownUnit } from './domain-xml-errors';

/** libvirt's unlimited-memory marker in KiB is also the largest size it accepts. */
const MAX_KIB = 2n ** 53n - 1n;
const MAX_BYTES = MAX_KIB * 1024n;

/** The bytes one unit stands for; null when libvirt does not know the unit. */
function unitBytes(unit: string): bigint | null {
  const u = unit.toLowerCase();
  if (u === '') return 1024n;
  if (u === 'b' || u === 'bytes') return 1n;
  const power = 'kmgtpe'.indexOf(u[0]!) + 1;
  if (power === 0) return null;
  const rest = u.slice(1);
  if (rest === '' || rest === 'ib') return 1024n ** BigInt(power);
  if (rest === 'b') return 1000n ** BigInt(power);
  return null;
}

/**
 * KiB for `text` in `unit`; `path` names the element in the errors
 * ('./memory[1]'). The value is checked before the unit, as libvirt does.
 */
export function memoryKiB(text: string, unit: string | undefined, path: string): bigint {
  if (!/^\s*\+?[0-9]+$/.test(text)) throw invalidValue(text, path);
  const value = BigInt(text.trim());
  const scale = unitBytes(unit ?? '');
  if (scale === null) throw unknownUnit(unit ?? '');
  if (value > MAX_BYTES / scale) throw tooLarge(`${value}${unit ?? ''}`);
  return (value * scale + 1023n) / 1024n;
}
