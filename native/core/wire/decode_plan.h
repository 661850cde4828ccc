// decode_plan.h — a typed procedure's argument schema, compiled once in JS
// (lib/xdr/plan.ts) into a table this code checks and runs on a worker: it
// decodes a call body with exactly the checks of the TypeScript codec
// (lib/xdr/codec.ts, DESIGN.md §7) and writes flat output, never a JS value.
//
// Threads: Load() on any thread (the JS thread, at registration); a loaded
// plan is immutable and shared by every worker (DecodeWithPlan only reads it).
//
// The plan's words (doubles, so every uint32 and every size is exact):
//   [kPlanMagic, max_depth, root, node...]
// Nodes sit back to back; a node is named by the index of its first word.
//   op  operands                         flat output (doubles, in order)
//   int uint char uchar short ushort     the value
//   hyper uhyper                         high word (signed for hyper), low word
//   float double                         the value
//   bool                                 0 or 1
//   void                                 nothing
//   enum     n, v1..vn                   the wire value
//   string   max                         offset in the body, byte length
//   opaque   max                         offset in the body, byte length
//   fixedOpaque length                   offset in the body
//   array    max, element min size, element    count, then each element
//   fixedArray length, element           each element
//   optional element                     0, or 1 then the element
//   struct   n, (name, node) × n         each field
//   union    discriminant, n, (wire value, node) × n, default (-1: none)
//                                        the wire discriminant, then the arm
//   recursive body                       the body (one level deeper)
// `name` indexes the names given to Load(); the last name is the top-level
// value's ("args"), the start of every error path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xdrd {

inline constexpr double kPlanMagic = 0x58445031;  // "XDP1"

enum class PlanOp : uint8_t {
  kInt, kUint, kChar, kUchar, kShort, kUshort, kHyper, kUhyper, kFloat, kDouble, kBool, kVoid,
  kEnum, kString, kOpaque, kFixedOpaque, kArray, kFixedArray, kOptional, kStruct, kUnion, kRecursive,
};
inline constexpr int kPlanOps = static_cast<int>(PlanOp::kRecursive) + 1;

// Why a body did not decode, as the TypeScript codec says it: "args.a[2]"
// and "string longer than 8 (9 bytes)"; `offset` is where the item starts.
struct DecodeFailure {
  std::string path;
  std::string reason;
  size_t offset = 0;
  // "path: reason", the XdrError message.
  std::string Message() const { return path.empty() ? reason : path + ": " + reason; }
};

class DecodePlan {
 public:
  // Checks every word (ops, counts, node references, sizes) so that no plan
  // can make the decoder read outside it. On a malformed plan: nullopt and
  // *error says what is wrong.
  static std::optional<DecodePlan> Load(const double* words, size_t count, std::vector<std::string> names,
                                        std::string* error);

  // Decodes `body`, which the value must fill exactly, appending the flat
  // output to *out. False with *failure set when it does not decode (*out
  // then holds a partial output to be discarded).
  bool Decode(const uint8_t* body, size_t size, std::vector<double>* out, DecodeFailure* failure) const;

  uint32_t max_depth() const { return max_depth_; }

 private:
  friend class PlanDecoder;
  struct Node {
    PlanOp op;
    uint32_t a = 0;        // max / length / count / child
    uint32_t b = 0;        // element / discriminant
    int64_t c = -1;        // union default (-1: none)
    double min_size = 0;   // array: the element's minimum encoded size
    uint32_t first = 0;    // enum: into values_; struct, union: into pairs_
  };
  struct Pair {
    int64_t key;     // struct: name index; union: wire value (sorted)
    uint32_t node;
  };

  DecodePlan() = default;

  std::vector<Node> nodes_;
  std::vector<int64_t> values_;  // enum members, each enum's run sorted
  std::vector<Pair> pairs_;
  std::vector<std::string> names_;
  uint32_t root_ = 0;
  uint32_t max_depth_ = 0;
};

// How the TypeScript codec prints a number (Number.prototype.toString) for
// the non-negative values a reason can hold: integers in full up to 1e21,
// then the shortest round-trip digits with an exponent. Exposed for tests.
std::string FormatJsNumber(double v);

// RFC 3629 UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF):
// what Node's buffer.isUtf8 accepts. Exposed for tests.
bool IsValidUtf8(const uint8_t* p, size_t n);

}  // namespace xdrd
