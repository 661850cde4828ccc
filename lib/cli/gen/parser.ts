/**
 * A recursive-descent parser for RFC 4506 §6.3 specifications and RFC 5531
 * program definitions, with the C type names rpcgen accepts. Inline bodies
 * nest at most LIMITS.typeDepth deep.
 */
import type * as A from './ast';
import { GenError, LIMITS, type Pos } from './errors';
import type { Token } from './lexer';

const KEYWORDS = new Set([
  'bool', 'case', 'const', 'default', 'double', 'quadruple', 'enum', 'float', 'hyper', 'int', 'opaque',
  'string', 'struct', 'switch', 'typedef', 'union', 'unsigned', 'void', 'program', 'version',
]);

/** C names real files use, and the XDR type each one is. */
const C_ALIASES: Record<string, A.Prim> = {
  long: 'int', short: 'short', char: 'char',
  u_int: 'uint', u_long: 'uint', u_short: 'ushort', u_char: 'uchar',
  int32_t: 'int', uint32_t: 'uint', int64_t: 'hyper', uint64_t: 'uhyper', bool_t: 'bool',
};

const describe = (t: Token): string => (t.kind === 'eof' ? 'end of input' : `'${t.text}'`);

export class Parser {
  private i = 0;
  private depth = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  private get t(): Token {
    return this.tokens[this.i];
  }
  private next(): Token {
    const t = this.tokens[this.i];
    if (t.kind !== 'eof') this.i++;
    return t;
  }
  private is(text: string): boolean {
    return this.t.kind !== 'num' && this.t.text === text;
  }
  private accept(text: string): boolean {
    if (!this.is(text)) return false;
    this.next();
    return true;
  }
  private fail(expected: string): never {
    throw new GenError(this.t.pos, `expected ${expected}, got ${describe(this.t)}`);
  }
  private expect(text: string): Pos {
    if (!this.is(text)) this.fail(`'${text}'`);
    return this.next().pos;
  }
  private name(what = 'a name'): { name: string; pos: Pos } {
    const t = this.t;
    if (t.kind !== 'id') this.fail(what);
    if (KEYWORDS.has(t.text)) throw new GenError(t.pos, `expected ${what}, got the keyword '${t.text}'`);
    this.next();
    return { name: t.text, pos: t.pos };
  }
  private value(): A.Value {
    const t = this.t;
    if (this.accept('-')) {
      const n = this.t;
      if (n.kind !== 'num') this.fail('a number after \'-\'');
      this.next();
      return { kind: 'num', value: -n.value, text: `-${n.text}`, pos: t.pos };
    }
    if (t.kind === 'num') {
      this.next();
      return { kind: 'num', value: t.value, text: t.text, pos: t.pos };
    }
    const { name, pos } = this.name('a number or a constant name');
    return { kind: 'name', name, pos };
  }
  private nested<T>(pos: Pos, f: () => T): T {
    if (++this.depth > LIMITS.typeDepth) throw new GenError(pos, `type definitions nested deeper than ${LIMITS.typeDepth}`);
    try {
      return f();
    } finally {
      this.depth--;
    }
  }

  parse(): A.Definition[] {
    const defs: A.Definition[] = [];
    while (this.t.kind !== 'eof') defs.push(this.definition());
    return defs;
  }

  private definition(): A.Definition {
    const pos = this.t.pos;
    if (this.accept('const')) {
      const { name } = this.name('a constant name');
      this.expect('=');
      const s = this.t;
      const value: A.Value | A.StringValue = s.kind === 'str' ? (this.next(), { kind: 'str', value: s.value, pos: s.pos }) : this.value();
      this.expect(';');
      return { kind: 'const', name, value, pos };
    }
    if (this.accept('typedef')) {
      const decl = this.declaration();
      if (decl.shape === 'void') throw new GenError(decl.pos, 'typedef of void');
      this.expect(';');
      return { kind: 'typedef', name: decl.name, decl, pos };
    }
    for (const kind of ['enum', 'struct', 'union'] as const) {
      if (this.accept(kind)) {
        const { name } = this.name(`a ${kind} name`);
        const def = this.bodyOf(kind, pos, name);
        this.expect(';');
        return def;
      }
    }
    if (this.accept('program')) return this.program(pos);
    this.fail("a definition ('const', 'typedef', 'enum', 'struct', 'union' or 'program')");
  }

  private bodyOf(kind: 'enum' | 'struct' | 'union', pos: Pos, name: string): A.Definition {
    return this.nested(pos, () => {
      if (kind === 'enum') return { kind, name, body: this.enumBody(), pos };
      if (kind === 'struct') return { kind, name, body: this.structBody(), pos };
      return { kind, name, body: this.unionBody(), pos };
    });
  }

  private enumBody(): A.EnumBody {
    this.expect('{');
    const members: A.EnumMember[] = [];
    do {
      if (this.is('}') && members.length > 0) break; // a trailing comma
      const { name, pos } = this.name('an enum member name');
      members.push(this.accept('=') ? { name, value: this.value(), pos } : { name, pos });
    } while (this.accept(','));
    this.expect('}');
    return { members };
  }

  private structBody(): A.StructBody {
    this.expect('{');
    const fields: A.NamedDecl[] = [];
    do {
      const d = this.declaration();
      if (d.shape === 'void') throw new GenError(d.pos, 'a struct field cannot be void');
      fields.push(d);
      this.expect(';');
    } while (!this.is('}'));
    this.expect('}');
    return { fields };
  }

  private unionBody(): A.UnionBody {
    this.expect('switch');
    this.expect('(');
    const discriminant = this.declaration();
    if (discriminant.shape !== 'plain') throw new GenError(discriminant.pos, 'the discriminant must be a plain declaration (int, unsigned int, bool or an enum)');
    this.expect(')');
    this.expect('{');
    const arms: A.UnionArm[] = [];
    let defaultArm: A.Decl | undefined;
    while (!this.is('}')) {
      if (this.is('default')) {
        const pos = this.next().pos;
        if (defaultArm) throw new GenError(pos, 'a second default arm');
        this.expect(':');
        defaultArm = this.declaration();
        this.expect(';');
        continue;
      }
      if (!this.is('case')) this.fail("'case', 'default' or '}'");
      const cases: A.Value[] = [];
      while (this.accept('case')) {
        cases.push(this.value());
        this.expect(':');
      }
      const decl = this.declaration();
      this.expect(';');
      arms.push({ cases, decl });
    }
    this.expect('}');
    if (arms.length === 0 && !defaultArm) throw new GenError(this.t.pos, 'a union needs at least one arm');
    return { discriminant, arms, defaultArm };
  }

  private declaration(): A.Decl {
    const pos = this.t.pos;
    if (this.accept('void')) return { shape: 'void', pos };
    let type: A.DeclType;
    if (this.is('opaque') || this.is('string')) {
      type = { kind: this.next().text as 'opaque' | 'string', pos };
    } else {
      type = this.typeSpec();
    }
    if (this.accept('*')) {
      const { name } = this.name('a field name');
      if (type.kind === 'opaque' || type.kind === 'string') throw new GenError(pos, `'${type.kind}' cannot be optional data; use a typedef`);
      return { shape: 'optional', name, type, pos };
    }
    const { name } = this.name('a field name');
    if (this.accept('[')) {
      const size = this.value();
      this.expect(']');
      if (type.kind === 'string') throw new GenError(pos, "a string has a variable length: write 'string name<max>' or 'string name<>'");
      return { shape: 'fixed', name, type, size, pos };
    }
    if (this.accept('<')) {
      const size = this.is('>') ? undefined : this.value();
      this.expect('>');
      return size ? { shape: 'var', name, type, size, pos } : { shape: 'var', name, type, pos };
    }
    if (type.kind === 'opaque') throw new GenError(pos, "opaque needs a length: 'opaque name[n]' or 'opaque name<max>'");
    if (type.kind === 'string') throw new GenError(pos, "string needs a maximum: 'string name<max>' or 'string name<>'");
    return { shape: 'plain', name, type, pos };
  }

  private typeSpec(): A.TypeSpec {
    const t = this.t;
    const pos = t.pos;
    const prim = (p: A.Prim): A.TypeSpec => ({ kind: 'prim', prim: p, pos });
    if (t.kind !== 'id') this.fail('a type');
    if (this.accept('unsigned')) {
      if (this.accept('int')) return prim('uint');
      if (this.accept('hyper')) return prim('uhyper');
      if (this.accept('long')) return prim('uint');
      if (this.accept('char')) return prim('uchar');
      if (this.accept('short')) return prim('ushort');
      return prim('uint'); // 'unsigned' alone is 'unsigned int', as in C
    }
    for (const p of ['int', 'hyper', 'float', 'double', 'quadruple', 'bool'] as const) if (this.accept(p)) return prim(p);
    if (Object.prototype.hasOwnProperty.call(C_ALIASES, t.text)) {
      this.next();
      return prim(C_ALIASES[t.text]);
    }
    for (const kind of ['enum', 'struct', 'union'] as const) {
      if (this.accept(kind)) {
        if (this.is('{') || (kind === 'union' && this.is('switch'))) {
          return this.nested(pos, () => {
            if (kind === 'enum') return { kind, body: this.enumBody(), pos };
            if (kind === 'struct') return { kind, body: this.structBody(), pos };
            return { kind, body: this.unionBody(), pos };
          });
        }
        const { name } = this.name(`a ${kind} name or body`);
        return { kind: 'ref', name, pos };
      }
    }
    const { name } = this.name('a type');
    return { kind: 'ref', name, pos };
  }

  private program(pos: Pos): A.Definition {
    const { name } = this.name('a program name');
    this.expect('{');
    const versions: A.Version[] = [];
    do {
      const vpos = this.expect('version');
      const { name: vname } = this.name('a version name');
      this.expect('{');
      const procedures: A.Procedure[] = [];
      do procedures.push(this.procedure());
      while (!this.is('}'));
      this.expect('}');
      this.expect('=');
      const number = this.value();
      this.expect(';');
      versions.push({ name: vname, number, procedures, pos: vpos });
    } while (this.is('version'));
    this.expect('}');
    this.expect('=');
    const number = this.value();
    this.expect(';');
    return { kind: 'program', name, number, versions, pos };
  }

  /** A procedure's argument or result: a type, or `string` (rpcgen's `string<>`). */
  private procType(): A.DeclType {
    const pos = this.t.pos;
    return this.accept('string') ? { kind: 'string', pos } : this.typeSpec();
  }

  private procedure(): A.Procedure {
    const pos = this.t.pos;
    const result = this.accept('void') ? undefined : this.procType();
    const { name } = this.name('a procedure name');
    this.expect('(');
    const args: A.DeclType[] = [];
    if (!this.accept('void')) {
      do args.push(this.procType());
      while (this.accept(','));
    }
    this.expect(')');
    this.expect('=');
    const number = this.value();
    this.expect(';');
    return { name, result, args, number, pos };
  }
}

export function parse(tokens: readonly Token[]): A.Definition[] {
  return new Parser(tokens).parse();
}
