/**
 * The `typedef enum { … } name;` blocks of a C header, as numbers: what a
 * test compares our copies of libvirt's tables against. Values may be
 * literals, earlier members or left out (the previous one + 1); anything
 * else throws, so a header this cannot read fails the test instead of
 * passing it with less checked.
 */
export function parseCEnums(header: string): Map<string, Map<string, number>> {
  const text = header
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/.*$/gm, '')
    .replace(/^\s*#.*$/gm, '');
  const enums = new Map<string, Map<string, number>>();
  for (const m of text.matchAll(/typedef\s+enum\s*\w*\s*\{([^}]*)\}\s*(\w+)\s*;/g)) {
    const members = new Map<string, number>();
    let next = 0;
    for (const raw of m[1]!.split(',')) {
      const entry = raw.trim();
      if (entry === '') continue;
      const parts = /^(\w+)\s*(?:=\s*(.+))?$/.exec(entry);
      if (!parts) throw new Error(`enum ${m[2]}: cannot read the member '${entry}'`);
      const [, name, value] = parts;
      let n = next;
      if (value !== undefined) {
        const v = value.trim();
        if (/^-?(0x[0-9a-f]+|\d+)$/i.test(v)) n = Number(v);
        else if (members.has(v)) n = members.get(v)!;
        else throw new Error(`enum ${m[2]}: cannot read the value of ${name}: '${v}'`);
      }
      members.set(name!, n);
      next = n + 1;
    }
    enums.set(m[2]!, members);
  }
  return enums;
}
