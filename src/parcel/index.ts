// Public API of the pure Parcel codec.

export * from './constants.js';
export * from './status.js';
export { ParcelError, parcelErrorStatus, type ParcelErrorCode } from './parcel-error.js';
export {
  INTERFACE_HEADER_RECO,
  INTERFACE_HEADER_SYST,
  INTERFACE_HEADER_UNKN,
  INTERFACE_HEADER_VNDR,
  INTERFACE_TOKEN_LAYOUTS,
  KNOWN_INTERFACE_HEADERS,
  STRICT_MODE_PENALTY_GATHER_API28,
  STRICT_MODE_PENALTY_GATHER_API29,
  UNSET_WORK_SOURCE,
  interfaceHeaderName,
  type InterfaceToken,
  type InterfaceTokenLayout,
  type InterfaceTokenLayoutInfo,
  type InterfaceTokenOverrides,
} from './interface-token.js';
export { ParcelReader, type FileDescriptorObject } from './parcel-reader.js';
export { ParcelWriter } from './parcel-writer.js';
export { FIRST_BUILTIN_TRANSACTION, isBuiltinTransaction } from './transaction-code.js';
