/**
 * Schemas of the libvirt structures the golden vectors use, transcribed
 * from the layouts in /work/shared/libvirt-wire.md (§1, §2, §4, §5).
 * Names follow libvirt's; constants are libvirt 9.0.0's.
 */
import { xdr } from '../../lib';

export const REMOTE_STRING_MAX = 4194304;
export const VIR_UUID_BUFLEN = 16;
export const REMOTE_DOMAIN_LIST_MAX = 16384;
export const REMOTE_AUTH_TYPE_LIST_MAX = 20;
export const REMOTE_SECURITY_MODEL_MAX = 257;
export const REMOTE_SECURITY_DOI_MAX = 257;
export const REMOTE_SECURITY_LABEL_MAX = 4097;
export const REMOTE_DOMAIN_MESSAGES_MAX = 2048;

// typedefs
export const remote_nonnull_string = xdr.string(REMOTE_STRING_MAX);
export const remote_string = xdr.optional(remote_nonnull_string);
export const remote_uuid = xdr.fixedOpaque(VIR_UUID_BUFLEN);

export const remote_nonnull_domain = xdr.struct({
  name: remote_nonnull_string,
  uuid: remote_uuid,
  id: xdr.int(),
});
export const remote_domain = xdr.optional(remote_nonnull_domain);

export const remote_nonnull_network = xdr.struct({
  name: remote_nonnull_string,
  uuid: remote_uuid,
});
export const remote_network = xdr.optional(remote_nonnull_network);

/** virNetMessageError / remote_error (§4). */
export const remote_error = xdr.struct({
  code: xdr.int(),
  domain: xdr.int(),
  message: remote_string,
  level: xdr.int(),
  dom: remote_domain,
  str1: remote_string,
  str2: remote_string,
  str3: remote_string,
  int1: xdr.int(),
  int2: xdr.int(),
  net: remote_network,
});

/** virNetMessageHeader (§1.1, without the length word). */
export const virNetMessageType = xdr.enum({
  VIR_NET_CALL: 0,
  VIR_NET_REPLY: 1,
  VIR_NET_MESSAGE: 2,
  VIR_NET_STREAM: 3,
  VIR_NET_CALL_WITH_FDS: 4,
  VIR_NET_REPLY_WITH_FDS: 5,
  VIR_NET_STREAM_HOLE: 6,
});
export const virNetMessageStatus = xdr.enum({ VIR_NET_OK: 0, VIR_NET_ERROR: 1, VIR_NET_CONTINUE: 2 });
export const virNetMessageHeader = xdr.struct({
  prog: xdr.uint(),
  vers: xdr.uint(),
  proc: xdr.int(),
  type: virNetMessageType,
  serial: xdr.uint(),
  status: virNetMessageStatus,
});

/** STREAM_HOLE payload (§1.3). */
export const virNetStreamHole = xdr.struct({ length: xdr.hyper(), flags: xdr.uint() });

export const remote_auth_type = xdr.enum({ REMOTE_AUTH_NONE: 0, REMOTE_AUTH_SASL: 1, REMOTE_AUTH_POLKIT: 2 });

// Procedure bodies (§5).
export const remote_auth_list_ret = xdr.struct({ types: xdr.array(remote_auth_type, REMOTE_AUTH_TYPE_LIST_MAX) });
export const remote_connect_open_args = xdr.struct({ name: remote_string, flags: xdr.uint() });
export const remote_connect_supports_feature_args = xdr.struct({ feature: xdr.int() });
export const remote_connect_get_hostname_ret = xdr.struct({ hostname: remote_nonnull_string });
export const remote_connect_get_version_ret = xdr.struct({ hv_ver: xdr.uhyper() });
export const remote_connect_list_domains_ret = xdr.struct({ ids: xdr.array(xdr.int(), REMOTE_DOMAIN_LIST_MAX) });
export const remote_connect_list_all_domains_ret = xdr.struct({
  domains: xdr.array(remote_nonnull_domain, REMOTE_DOMAIN_LIST_MAX),
  ret: xdr.uint(),
});
export const remote_domain_get_info_ret = xdr.struct({
  state: xdr.uchar(),
  maxMem: xdr.uhyper(),
  memory: xdr.uhyper(),
  nrVirtCpu: xdr.ushort(),
  cpuTime: xdr.uhyper(),
});
export const remote_domain_get_state_args = xdr.struct({ dom: remote_nonnull_domain, flags: xdr.uint() });
export const remote_domain_get_state_ret = xdr.struct({ state: xdr.int(), reason: xdr.int() });
export const remote_node_get_security_model_ret = xdr.struct({
  model: xdr.array(xdr.char(), REMOTE_SECURITY_MODEL_MAX),
  doi: xdr.array(xdr.char(), REMOTE_SECURITY_DOI_MAX),
});
export const remote_domain_get_security_label_ret = xdr.struct({
  label: xdr.array(xdr.char(), REMOTE_SECURITY_LABEL_MAX),
  enforcing: xdr.int(),
});
export const remote_domain_get_messages_ret = xdr.struct({
  msgs: xdr.array(remote_nonnull_string, REMOTE_DOMAIN_MESSAGES_MAX),
});
