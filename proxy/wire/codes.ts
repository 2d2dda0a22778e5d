// Message type codes of the PostgreSQL v3 protocol (protocol-message-formats.html), one table per direction.
// The same byte means different messages in each direction — 'D' is Describe from a client and DataRow from a
// server, 'C' Close / CommandComplete, 'H' Flush / CopyOutResponse, 'S' Sync / ParameterStatus, 'E' Execute /
// ErrorResponse — so code never compares a type byte without knowing which side sent it
// (pgdogdev/pgdog/pgdog/src/net/messages/mod.rs tags every message with its Source for the same reason).

/** Messages a client sends after the startup phase (and the password/SASL replies during it). */
export const Frontend = {
  Query: 0x51, // 'Q'
  Parse: 0x50, // 'P'
  Bind: 0x42, // 'B'
  Describe: 0x44, // 'D'
  Execute: 0x45, // 'E'
  Sync: 0x53, // 'S'
  Flush: 0x48, // 'H'
  Close: 0x43, // 'C'
  Terminate: 0x58, // 'X'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
  FunctionCall: 0x46, // 'F'
  /** also GSSResponse, SASLInitialResponse and SASLResponse: the type is told apart by the auth exchange */
  PasswordMessage: 0x70, // 'p'
} as const;

/** Messages a server sends. */
export const Backend = {
  Authentication: 0x52, // 'R' (Ok, CleartextPassword, MD5Password, SASL, SASLContinue, SASLFinal, …)
  BackendKeyData: 0x4b, // 'K'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  CopyBothResponse: 0x57, // 'W'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ErrorResponse: 0x45, // 'E'
  FunctionCallResponse: 0x56, // 'V'
  NegotiateProtocolVersion: 0x76, // 'v'
  NoData: 0x6e, // 'n'
  NoticeResponse: 0x4e, // 'N'
  NotificationResponse: 0x41, // 'A'
  ParameterDescription: 0x74, // 't'
  ParameterStatus: 0x53, // 'S'
  ParseComplete: 0x31, // '1'
  PortalSuspended: 0x73, // 's'
  ReadyForQuery: 0x5a, // 'Z'
  RowDescription: 0x54, // 'T'
} as const;

/** ReadyForQuery transaction status bytes. */
export const TxStatus = { Idle: 0x49 /* I */, InTransaction: 0x54 /* T */, Failed: 0x45 /* E */ } as const;

/** Authentication request codes (the int32 after 'R'). */
export const AuthCode = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** Request codes in the startup-phase packets that have no type byte (protocol-message-formats: StartupMessage …). */
export const RequestCode = {
  /** 3.0: major 3 in the high 16 bits, minor 0 in the low. */
  Protocol30: 196608,
  /** 3.2 (PostgreSQL 18): longer cancel keys. We answer it with NegotiateProtocolVersion(0), see startup.ts. */
  Protocol32: 196610,
  CancelRequest: 80877102, // 1234 << 16 | 5678
  SSLRequest: 80877103, // 1234 << 16 | 5679
  GSSENCRequest: 80877104, // 1234 << 16 | 5680
} as const;
