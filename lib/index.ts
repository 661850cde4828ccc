/** xdrd's public API. */
export * as xdr from './xdr';
export { XdrError, XdrReader, XdrWriter } from './xdr';
export type { Static, Infer, Schema } from './xdr';
export { defineProgram } from './program';
export type {
  ProcedureDef,
  EventDef,
  ProgramDef,
  Procedure,
  ProgramEvent,
  Program,
  AnyProgram,
  ProcedureName,
  EventName,
  HandlerArgs,
  HandlerResult,
  EventBody,
  Handler,
  Handlers,
} from './program';
export { Server } from './server/server';
export { CallContext, CallAbortedError } from './server/context';
export type { AbortCode } from './server/context';
export { Connection } from './server/connection';
export type {
  DisconnectReason,
  PeerCredentials,
  KeepaliveSettings,
  ConnectionCloseOptions,
} from './server/connection';
export type { ProcedureStats } from './server/procedure-stats';
export type {
  RawHandler,
  RawHandlers,
  ServerOptions,
  ListenOptions,
  AddressInfo,
  CloseOptions,
  SendEventOptions,
  CloseResult,
  ServerStats,
  LogRecord,
} from './server/types';
export { Client } from './client';
export type { ConnectOptions, CallOptions, ServerMessage, KeepaliveOptions, EventListener } from './client';
export { RpcError, isRpcError, remoteError, ErrorCode, ErrorDomain, ErrorLevel } from './errors';
export { LatencyHistogram } from './histogram';
export type { LatencySnapshot } from './histogram';
export type { RpcErrorFields, RemoteError } from './errors';
export { liveCounts } from './native';
export type { LiveCounts } from './native';
