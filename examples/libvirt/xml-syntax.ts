/**
 * Reading an XML document into a small element tree, and refusing a
 * malformed one with the message libvirtd 9.0 sends (code 35, domain 20):
 * libxml2's report, "(<document name>):<line>: <what>", then the line it
 * stopped on and a caret under the place (recorded; see
 * test/fixtures/libvirt-domains). fast-xml-parser does the parsing; the
 * wording of the mistakes a user makes most (empty file, truncated
 * file, mismatched end tag, content after the root, an undefined entity,
 * '<' in an attribute value) is ours, from the recordings. Any other
 * mistake keeps the code, domain and layout with fast-xml-parser's
 * description, which libvirtd words differently.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { RpcError } from 'xdrd';

export interface XmlElement {
  name: string;
  /** Values with entities already decoded. */
  attrs: Readonly<Record<string, string>>;
  children: XmlElement[];
  /** The element's own character data (children's text not included), decoded. */
  text: string;
}

/** VIR_ERR_XML_DETAIL: libxml2's own report, sent with str1 "%s". */
const XML_DETAIL = 35;
/** VIR_FROM_DOMAIN: the domain XML parser reports it. */
const FROM_DOMAIN = 20;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // Decodes numeric character references too (&#65;), as libxml2 does.
  htmlEntities: true,
});

/** The root element, or a libvirt-worded error when `xml` is not well formed. */
export function parseXmlDocument(xml: string, docName: string): XmlElement {
  const problem = findProblem(xml);
  if (problem !== null) throw syntaxError(xml, docName, problem);
  const nodes = parser.parse(xml) as OrderedNode[];
  const roots = nodes.filter((n) => elementName(n) !== null);
  // findProblem() has seen exactly one root.
  return toElement(roots[0]!);
}

interface Problem {
  what: string;
  /** Offset in `xml` where libxml2 stops. */
  at: number;
}

/** fast-xml-parser's preserveOrder node: { tag: children[], ':@': attrs } or { '#text': s }. */
type OrderedNode = Record<string, unknown>;

function elementName(n: OrderedNode): string | null {
  for (const k of Object.keys(n)) if (k !== ':@' && k !== '#text' && !k.startsWith('?') && !k.startsWith('#')) return k;
  return null;
}

function toElement(n: OrderedNode): XmlElement {
  const name = elementName(n)!;
  const attrs = (n[':@'] as Record<string, string> | undefined) ?? {};
  const children: XmlElement[] = [];
  let text = '';
  for (const c of n[name] as OrderedNode[]) {
    if (typeof c['#text'] === 'string') text += c['#text'];
    else if (elementName(c) !== null) children.push(toElement(c));
  }
  return { name, attrs, children, text };
}

/**
 * libxml2's nesting limit without XML_PARSE_HUGE (libvirt does not ask for
 * it): an element that would start with this many already open is refused,
 * which also keeps a hostile document from recursing deeply here.
 */
const MAX_DEPTH = 256;

/** Comments, PIs, CDATA, DOCTYPE, end tags (1: name), start tags (2: name, 3: '/' when empty). A '<' in a quoted value stops a start tag: libxml2 refuses it. */
const MARKUP = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>|<!DOCTYPE[^>]*>|<\/\s*([^\s>]+)\s*>|<([^\s/>!?]+)(?:[^>"'<]|"[^"<]*"|'[^'<]*')*?(\/?)>/g;
/** The five entities XML predefines; libvirt's documents have no DTD to define more. */
const ENTITY = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)([^;\s&<]*);/;

/**
 * Walks the tags the way libxml2 meets them, to say where it would stop;
 * null when the document is well formed.
 */
function findProblem(xml: string): Problem | null {
  const start = xml.search(/\S/);
  if (start < 0 || xml[start] !== '<') return { what: "Start tag expected, '<' not found", at: start < 0 ? xml.length : start };
  // Where each open element started: its line is counted only for a report (counting per tag would be quadratic).
  const open: { name: string; at: number }[] = [];
  let rootDone = false;
  let pos = start;
  MARKUP.lastIndex = start;
  for (let m = MARKUP.exec(xml); m !== null; m = MARKUP.exec(xml)) {
    const between = xml.slice(pos, m.index);
    if (rootDone && /\S/.test(between)) return { what: 'Extra content at the end of the document', at: pos + between.search(/\S/) };
    const stray = strayProblem(xml, pos, between) ?? entityProblem(pos, between) ?? entityProblem(m.index, m[0]);
    if (stray !== null) return stray;
    pos = m.index + m[0].length;
    const [, endName, startName, selfClosing] = m;
    if (startName !== undefined) {
      if (rootDone) return { what: 'Extra content at the end of the document', at: m.index };
      // libxml2 counts from the root's parent: refused with MAX_DEPTH + 1 open (recorded).
      if (open.length > MAX_DEPTH) return { what: `Excessive depth in document: ${MAX_DEPTH} use XML_PARSE_HUGE option`, at: m.index };
      if (selfClosing === '') open.push({ name: startName, at: m.index });
      else if (open.length === 0) rootDone = true;
    } else if (endName !== undefined) {
      const top = open.pop();
      if (top === undefined) return { what: 'Extra content at the end of the document', at: m.index };
      if (top.name !== endName) return { what: `Opening and ending tag mismatch: ${top.name} line ${lineOf(xml, top.at)} and ${endName}`, at: pos };
      if (open.length === 0) rootDone = true;
    }
  }
  const rest = xml.slice(pos);
  if (rootDone && /\S/.test(rest)) return { what: 'Extra content at the end of the document', at: pos + rest.search(/\S/) };
  const stray = strayProblem(xml, pos, rest) ?? entityProblem(pos, rest) ?? unfinishedTag(xml, pos, rest);
  if (stray !== null) return stray;
  if (open.length > 0 && !rest.includes('<')) {
    const top = open[open.length - 1]!;
    return { what: `Premature end of data in tag ${top.name} line ${lineOf(xml, top.at)}`, at: xml.length };
  }
  const v = XMLValidator.validate(xml, { allowBooleanAttributes: false });
  if (v !== true) return { what: v.err.msg, at: offsetOf(xml, v.err.line, v.err.col) };
  if (!rootDone) return { what: 'Start tag expected, \'<\' not found', at: xml.length };
  return null;
}

/**
 * A '<' that no markup took: a start tag whose quoted value runs into
 * another tag. libxml2 stops at that '<'. Other stray '<' are left to the
 * validator.
 */
function strayProblem(xml: string, from: number, text: string): Problem | null {
  const lt = text.indexOf('<');
  if (lt < 0) return null;
  const tag = /^<[^\s/>!?]+[^"'<>]*(["'])/.exec(xml.slice(from + lt));
  if (tag === null) return null;
  const valueStart = from + lt + tag[0].length;
  const close = xml.indexOf(tag[1]!, valueStart);
  const inner = xml.indexOf('<', valueStart);
  if (inner < 0 || (close >= 0 && close < inner)) return null;
  return { what: "Unescaped '<' not allowed in attributes values", at: inner };
}

/**
 * A tag the input ends inside of (no '>' after its '<'): libxml2 stops at
 * the end of the input, saying what it was still reading (recorded).
 */
function unfinishedTag(xml: string, from: number, text: string): Problem | null {
  const lt = text.indexOf('<');
  if (lt < 0 || text.indexOf('>', lt) >= 0) return null;
  const tag = text.slice(lt);
  const end = xml.length;
  if (tag.startsWith('</')) return { what: "expected '>'", at: end };
  const name = /^<([^\s/>!?'"=]+)/.exec(tag);
  if (name === null) return null;
  const attrs = tag.slice(name[0].length);
  // An attribute value still open: libxml2 wants its closing quote.
  const open = /^(?:\s+[^\s=]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s+[^\s=]+\s*=\s*(["'])[^"']*$/.exec(attrs);
  if (open !== null) return { what: `AttValue: ${open[1]} expected`, at: end };
  // A value just closed, nothing after it: libxml2 looks for the next attribute.
  if (/(["'])\s*$/.test(attrs) && !/\s$/.test(attrs)) return { what: 'attributes construct error', at: end };
  return { what: `Couldn't find end of Start Tag ${name[1]} line ${lineOf(xml, from + lt)}`, at: end };
}

/** An entity reference XML does not predefine: libxml2 stops after its ';'. */
function entityProblem(from: number, text: string): Problem | null {
  const m = ENTITY.exec(text);
  return m === null ? null : { what: `Entity '${m[1]}' not defined`, at: from + m.index + m[0].length };
}

function lineOf(xml: string, at: number): number {
  let line = 1;
  for (let i = xml.indexOf('\n'); i >= 0 && i < at; i = xml.indexOf('\n', i + 1)) line++;
  return line;
}

function offsetOf(xml: string, line: number, col: number): number {
  let at = 0;
  for (let l = 1; l < line; l++) {
    const nl = xml.indexOf('\n', at);
    if (nl < 0) break;
    at = nl + 1;
  }
  return Math.min(xml.length, at + Math.max(0, col - 1));
}

/**
 * libxml2's layout: the line holding the stop, then one '-' per character
 * before it and '^'. At the very end of a file that ends with a newline
 * there is no line left, and libxml2 prints "(null)".
 */
function syntaxError(xml: string, docName: string, p: Problem): RpcError {
  const lineStart = xml.lastIndexOf('\n', p.at - 1) + 1;
  const lineEnd = xml.indexOf('\n', p.at);
  const context = xml.slice(lineStart, lineEnd < 0 ? xml.length : lineEnd);
  const shown = p.at >= xml.length && context === '' ? '(null)\n^' : `${context}\n${'-'.repeat(p.at - lineStart)}^`;
  const message = `(${docName}):${lineOf(xml, p.at)}: ${p.what}\n${shown}`;
  return new RpcError(message, { code: XML_DETAIL, domain: FROM_DOMAIN, str1: '%s', str2: message });
}
