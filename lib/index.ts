/** xdrd's public API (the XDR schema layer so far). */
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
