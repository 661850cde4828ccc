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
export { Server, CallContext } from './server';
export type {
  RawHandler,
  RawHandlers,
  ServerOptions,
  ListenOptions,
  AddressInfo,
  CloseOptions,
  CloseResult,
  ServerStats,
} from './server';
export { Client } from './client';
export type { ConnectOptions, CallOptions, ServerMessage, KeepaliveOptions } from './client';
export { RpcError, isRpcError, remoteError } from './errors';
export type { RpcErrorFields, RemoteError } from './errors';
export { liveCounts } from './native';
export type { LiveCounts } from './native';
