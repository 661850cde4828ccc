/**
 * The errors libvirtd 9.0 (test driver) sends when `virsh define` is given
 * a domain it refuses, worded and numbered as recorded
 * (test/fixtures/libvirt-domains/invalid-*.error.json). python prints the
 * domain's name in front of the message: 20 "Domain Config", 5 "XML Util",
 * 0 nothing ("libvirt:  error : ..."), so the domains matter as much as the
 * codes.
 */
import { ErrorCode, ErrorDomain, RpcError } from 'xdrd';

import { uuidToString } from './uuid';

/** VIR_FROM_XML: libvirt's XML helpers report numbers they cannot read. */
const FROM_XML = 5;
/** VIR_ERR_NO_NAME. */
const NO_NAME = 21;
/** VIR_ERR_OVERFLOW. */
const OVERFLOW = 82;

function worded(code: number, domain: number, prefix: string, detail: string): RpcError {
  return new RpcError(prefix + detail, { code, domain, str1: `${prefix}%s`, str2: detail });
}

const xmlError = (domain: number, detail: string) => worded(ErrorCode.XML_ERROR, domain, 'XML error: ', detail);
const unsupported = (detail: string) => worded(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.DOMAIN, 'unsupported configuration: ', detail);
const internal = (detail: string) => worded(ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN, 'internal error: ', detail);

export const notDomainRoot = (root: string) => xmlError(FROM_XML, `expecting root element of 'domain', not '${root}'`);

/** No detail: the message is the whole format, str2 stays empty. */
export const missingName = () => new RpcError('missing name information', { code: NO_NAME, domain: ErrorDomain.DOMAIN, str1: 'missing name information' });

export const malformedUuid = () => internal('malformed uuid element');
export const missingVirtType = () => internal('missing domain type attribute');
export const unknownVirtType = (type: string) => unsupported(`invalid domain type ${type}`);
export const missingOsType = () => xmlError(ErrorDomain.DOMAIN, 'an os <type> must be specified');
export const unknownOsType = (type: string) => unsupported(`unknown OS type '${type}'`);
export const unknownArch = (arch: string) => unsupported(`Unknown architecture ${arch}`);
/** os type 'exe' (containers) needs an <init>; this daemon keeps none. */
export const missingInit = () => xmlError(ErrorDomain.DOMAIN, 'init binary must be specified');

/** A number that does not read as one; `path` is libvirt's XPath, e.g. './memory[1]'. */
export const invalidValue = (value: string, path: string) => xmlError(FROM_XML, `Invalid value '${value}' for element or attribute '${path}'`);
export const unknownUnit = (unit: string) => worded(ErrorCode.INVALID_ARG, ErrorDomain.NONE, 'invalid argument: ', `unknown suffix '${unit}'`);
/** `written` is the number and the unit as given (no unit: the number alone). */
export const tooLarge = (written: string) => worded(OVERFLOW, ErrorDomain.NONE, 'numerical overflow: ', `value too large: ${written}`);
export const noMemory = () => xmlError(ErrorDomain.DOMAIN, 'Memory size must be specified via <memory> or in the <numa> configuration');

export const vcpusNotInteger = () => xmlError(ErrorDomain.DOMAIN, 'maximum vcpus count must be an integer');
/** <vcpu>0</vcpu>: libvirt's check of NUMA cells against the count is the one that fires. */
export const zeroVcpus = () => internal('CPU IDs in <numa> exceed the <vcpu> count');

export const nameWithSlash = (name: string) => xmlError(ErrorDomain.DOMAIN, `name ${name} cannot contain '/'`);

/** define: the name is taken by a domain with another UUID. */
export const nameTaken = (name: string, uuid: Buffer) =>
  worded(ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN, 'operation failed: ', `domain '${name}' already exists with uuid ${uuidToString(uuid)}`);

/** define: the UUID belongs to a domain with another name (named here: the existing one). */
export const uuidTaken = (existingName: string, uuid: Buffer) =>
  worded(ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN, 'operation failed: ', `domain '${existingName}' is already defined with uuid ${uuidToString(uuid)}`);
