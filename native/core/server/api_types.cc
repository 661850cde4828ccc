// api_types.cc — see api_types.h.
#include "server/api_types.h"

namespace xdrd {

const char* CloseReasonName(CloseReason r) {
  switch (r) {
    case CloseReason::kNone: return "none";
    case CloseReason::kEof: return "eof";
    case CloseReason::kIoError: return "io-error";
    case CloseReason::kProtocol: return "protocol";
    case CloseReason::kServerClose: return "server-close";
    case CloseReason::kKeepalive: return "keepalive";
    case CloseReason::kFrameTimeout: return "frameTimeout";
    case CloseReason::kSendQueue: return "sendQueue";
    case CloseReason::kLimit: return "limit";
    case CloseReason::kHandler: return "handler";
    case CloseReason::kDenied: return "denied";
  }
  return "?";
}

}  // namespace xdrd
