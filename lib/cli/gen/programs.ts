/**
 * Programs: RFC 5531 `program`/`version` blocks, and programs built from a
 * procedure enum (`--program`, libvirt's style), each written as a
 * `defineProgram` value.
 */
import type * as A from './ast';
import { GenError, type Pos } from './errors';
import { key } from './names';
import type { SchemaWriter } from './emit';
import type { Resolver } from './resolve';

/** `--program NAME=PROGCONST,VERSCONST,ENUM,PREFIX`, parsed. */
export interface EnumProgram {
  readonly name: string;
  readonly program: string;
  readonly version: string;
  readonly enumName: string;
  readonly prefix: string;
}

const ARG = /^([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z_][A-Za-z0-9_]*),([A-Za-z_][A-Za-z0-9_]*),([A-Za-z_][A-Za-z0-9_]*),([A-Za-z0-9_]+)$/;

/** Parses a --program value; undefined when it is malformed. */
export function parseEnumProgram(text: string): EnumProgram | undefined {
  const m = ARG.exec(text);
  return m ? { name: m[1], program: m[2], version: m[3], enumName: m[4], prefix: m[5] } : undefined;
}

const INT32_MAX = 2n ** 31n - 1n;
const NOWHERE: Pos = { file: '(command line)', line: 0, col: 0 };

interface Entry {
  readonly name: string;
  readonly id: bigint;
  readonly body: string;
  readonly pos: Pos;
}

function block(kind: 'procedures' | 'events', entries: readonly Entry[]): string {
  const seen = new Map<bigint, string>();
  const names = new Set<string>();
  for (const e of entries) {
    if (e.id < 0n || e.id > INT32_MAX) throw new GenError(e.pos, `procedure number ${e.id} of '${e.name}' is not from 0 to ${INT32_MAX}`);
    const other = seen.get(e.id);
    if (other !== undefined) throw new GenError(e.pos, `procedures '${other}' and '${e.name}' share the number ${e.id}`);
    if (names.has(e.name)) throw new GenError(e.pos, `procedure '${e.name}' appears twice`);
    seen.set(e.id, e.name);
    names.add(e.name);
  }
  return `  ${kind}: {\n${entries.map((e) => `    ${key(e.name)}: { id: ${e.id}, ${e.body} },\n`).join('')}  },\n`;
}

function uint32(r: Resolver, v: A.Value, what: string): void {
  const n = r.value(v);
  if (n < 0n || n > 0xffffffffn) throw new GenError(v.pos, `${what} ${n} is not an unsigned 32-bit int`);
}

/** A `program` block: its number as a constant, then one program per version. */
export function programBlock(p: Extract<A.Definition, { kind: 'program' }>, r: Resolver, w: SchemaWriter): string {
  uint32(r, p.number, 'program number');
  let out = `export const ${r.tsName(p.name)} = ${w.valueText(p.number)};\n`;
  for (const v of p.versions) {
    uint32(r, v.number, 'version number');
    const ctx = { selves: new Map(), budget: { n: 0, pos: v.pos } };
    const type = (t: A.DeclType): string => (t.kind === 'string' ? 'xdr.string()' : w.spec(t, ctx, '    '));
    const entries = v.procedures.map((proc): Entry => {
      const args =
        proc.args.length === 0 ? 'xdr.void()'
        : proc.args.length === 1 ? type(proc.args[0])
        // rpcgen -N's convention for several arguments: one struct, arg1..argN.
        : `xdr.struct({ ${proc.args.map((a, i) => `arg${i + 1}: ${type(a)}`).join(', ')} })`;
      const result = proc.result ? type(proc.result) : 'xdr.void()';
      return { name: proc.name, id: r.value(proc.number), body: `args: ${args}, result: ${result}`, pos: proc.pos };
    });
    out += `\nexport const ${r.tsName(v.name)} = defineProgram({\n  number: ${r.tsName(p.name)},\n  version: ${w.valueText(v.number)},\n`;
    out += block('procedures', entries);
    out += '});\n';
  }
  return out;
}

/**
 * A program from a procedure enum. Member PREFIX + X is procedure x (X in
 * lower case) with args NAME_x_args and result NAME_x_ret where those types
 * exist (void where not); a member with neither but a NAME_x_msg type is
 * the event x with that body.
 */
export function enumProgram(spec: EnumProgram, r: Resolver, w: SchemaWriter): string {
  const where = `--program ${spec.name}`;
  const found = r.findType(spec.enumName);
  if (!found || found.def.kind !== 'enum') throw new GenError(undefined, `${where}: '${spec.enumName}' is not an enum of the input`, '(command line)');
  const values = found.owner.enumValues.get(found.def.body)!;
  const procs: Entry[] = [];
  const events: Entry[] = [];
  const ref = (n: string): string | undefined => {
    if (!r.findType(n)) return undefined;
    return w.spec({ kind: 'ref', name: n, pos: NOWHERE }, { selves: new Map(), budget: { n: 0, pos: NOWHERE } }, '    ');
  };
  for (const m of found.def.body.members) {
    if (!values.has(m.name)) continue; // an alias of an earlier member
    if (!m.name.startsWith(spec.prefix) || m.name.length === spec.prefix.length) {
      throw new GenError(m.pos, `${where}: member '${m.name}' does not start with '${spec.prefix}'`);
    }
    const proc = m.name.slice(spec.prefix.length).toLowerCase();
    const base = `${spec.name}_${proc}`;
    const args = ref(`${base}_args`);
    const ret = ref(`${base}_ret`);
    const msg = ref(`${base}_msg`);
    const id = values.get(m.name)!;
    if (args === undefined && ret === undefined && msg !== undefined) events.push({ name: proc, id, body: `body: ${msg}`, pos: m.pos });
    else procs.push({ name: proc, id, body: `args: ${args ?? 'xdr.void()'}, result: ${ret ?? 'xdr.void()'}`, pos: m.pos });
  }
  const at = (name: string): A.Value => ({ kind: 'name', name, pos: NOWHERE });
  for (const [c, what] of [[spec.program, 'program number'], [spec.version, 'version number']] as const) {
    try {
      uint32(r, at(c), what);
    } catch (e) {
      if (e instanceof GenError) throw new GenError(undefined, `${where}: ${e.reason}`, '(command line)');
      throw e;
    }
  }
  let out = `export const ${r.tsName(spec.name)} = defineProgram({\n  number: ${w.valueText(at(spec.program))},\n  version: ${w.valueText(at(spec.version))},\n`;
  out += block('procedures', procs);
  if (events.length > 0) out += block('events', events);
  return `${out}});\n`;
}
