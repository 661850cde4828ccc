// decode_plan.cc — see decode_plan.h. Every reason string and offset below
// mirrors lib/xdr/codec.ts and lib/xdr/reader.ts word for word: a call that
// fails here gets the error reply the TypeScript codec would have given, and
// test/xdr/plan.test.ts compares the two on thousands of inputs.
#include "wire/decode_plan.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <utility>

namespace xdrd {

namespace {

// Bounds a plan must respect, so that a decode's own recursion (one C++
// frame per schema level) stays far from the worker's stack limit.
constexpr uint32_t kMaxPlanDepth = 10000;   // the codec's maxDepth
constexpr uint32_t kMaxStaticNesting = 64;  // schema levels between two recursive nodes
constexpr size_t kMaxPlanWords = 1 << 22;
// A decode nests at most max_depth × (longest static chain + 1) C++ frames;
// this keeps that well inside a worker's stack (8 MiB by default), even with
// a sanitizer's larger frames.
constexpr uint64_t kMaxDecodeFrames = 8192;

bool IsIntegral(double v, double max) { return v >= 0 && v <= max && std::floor(v) == v; }

const char* IntName(PlanOp op) {
  switch (op) {
    case PlanOp::kChar: return "char";
    case PlanOp::kUchar: return "unsigned char";
    case PlanOp::kShort: return "short";
    default: return "unsigned short";
  }
}

std::string Str(uint64_t v) { return std::to_string(v); }
std::string Str(int64_t v) { return std::to_string(v); }

}  // namespace

std::string FormatJsNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v >= 0 && v < 9007199254740992.0 && std::floor(v) == v) return std::to_string(static_cast<uint64_t>(v));
  // The shortest digits that read back as v, then JS's layout of them.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  const size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string sign;
  if (!mantissa.empty() && mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;  // the decimal point sits after n digits
  if (k <= n && n <= 21) return sign + digits + std::string(static_cast<size_t>(n - k), '0');
  if (0 < n && n <= 21) return sign + digits.substr(0, static_cast<size_t>(n)) + "." + digits.substr(static_cast<size_t>(n));
  if (-6 < n && n <= 0) return sign + "0." + std::string(static_cast<size_t>(-n), '0') + digits;
  std::string out = sign + digits.substr(0, 1);
  if (k > 1) out += "." + digits.substr(1);
  out += exponent >= 0 ? "e+" : "e-";
  out += std::to_string(exponent >= 0 ? exponent : -exponent);
  return out;
}

bool IsValidUtf8(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // a continuation byte, an overlong lead (c0, c1) or f5..ff
    }
    if (n - i < len) return false;
    for (size_t j = 1; j < len; ++j) {
      if ((p[i + j] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + j] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;  // overlong
    if (cp >= 0xd800 && cp <= 0xdfff) return false;                            // surrogate
    if (cp > 0x10ffff) return false;
    i += len;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Loading

std::optional<DecodePlan> DecodePlan::Load(const double* w, size_t count, std::vector<std::string> names,
                                           std::string* error) {
  auto fail = [error](std::string why) -> std::optional<DecodePlan> {
    *error = "bad decode plan: " + why;
    return std::nullopt;
  };
  if (count < 4 || count > kMaxPlanWords) return fail("its size is out of bounds");
  if (w[0] != kPlanMagic) return fail("it does not start with the plan magic");
  if (names.empty()) return fail("no top-level name");
  if (!IsIntegral(w[1], kMaxPlanDepth) || w[1] < 1) return fail("maxDepth out of range");
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(w[i])) return fail("a word is not finite");

  DecodePlan plan;
  plan.names_ = std::move(names);
  plan.max_depth_ = static_cast<uint32_t>(w[1]);

  // First pass: split the words into nodes, remembering where each starts.
  std::unordered_map<size_t, uint32_t> index_of;  // word offset -> node index
  struct Raw {
    size_t at;
    size_t words;
  };
  std::vector<Raw> raws;
  size_t at = 3;
  while (at < count) {
    if (!IsIntegral(w[at], kPlanOps - 1)) return fail("unknown op at word " + Str(uint64_t{at}));
    const auto op = static_cast<PlanOp>(static_cast<int>(w[at]));
    size_t words = 1;
    auto need = [&](size_t k) { return at + k <= count; };
    switch (op) {
      case PlanOp::kEnum:
        if (!need(2) || !IsIntegral(w[at + 1], 1e9)) return fail("bad enum size");
        words = 2 + static_cast<size_t>(w[at + 1]);
        break;
      case PlanOp::kString: case PlanOp::kOpaque: case PlanOp::kFixedOpaque:
      case PlanOp::kOptional: case PlanOp::kRecursive:
        words = 2;
        break;
      case PlanOp::kFixedArray:
        words = 3;
        break;
      case PlanOp::kArray:
        words = 4;
        break;
      case PlanOp::kStruct:
        if (!need(2) || !IsIntegral(w[at + 1], 1e9)) return fail("bad struct size");
        words = 2 + 2 * static_cast<size_t>(w[at + 1]);
        break;
      case PlanOp::kUnion:
        if (!need(3) || !IsIntegral(w[at + 2], 1e9)) return fail("bad union size");
        words = 4 + 2 * static_cast<size_t>(w[at + 2]);
        break;
      default:
        break;
    }
    if (!need(words)) return fail("a node runs past the end");
    index_of.emplace(at, static_cast<uint32_t>(raws.size()));
    raws.push_back({at, words});
    at += words;
  }
  auto node_ref = [&](double v, uint32_t* out) {
    if (!IsIntegral(v, static_cast<double>(count))) return false;
    auto it = index_of.find(static_cast<size_t>(v));
    if (it == index_of.end()) return false;
    *out = it->second;
    return true;
  };
  if (!node_ref(w[2], &plan.root_)) return fail("the root names no node");

  // Second pass: the typed nodes.
  for (const Raw& r : raws) {
    const double* x = w + r.at;
    Node node;
    node.op = static_cast<PlanOp>(static_cast<int>(x[0]));
    switch (node.op) {
      case PlanOp::kEnum: {
        node.a = static_cast<uint32_t>(x[1]);
        node.first = static_cast<uint32_t>(plan.values_.size());
        for (uint32_t i = 0; i < node.a; ++i) {
          if (!(x[2 + i] >= -2147483648.0 && x[2 + i] <= 2147483647.0 && std::floor(x[2 + i]) == x[2 + i]))
            return fail("an enum value is not an int");
          plan.values_.push_back(static_cast<int64_t>(x[2 + i]));
        }
        std::sort(plan.values_.begin() + node.first, plan.values_.end());
        break;
      }
      case PlanOp::kString: case PlanOp::kOpaque: case PlanOp::kFixedOpaque:
        if (!IsIntegral(x[1], 4294967295.0)) return fail("a length is not a uint32");
        node.a = static_cast<uint32_t>(x[1]);
        break;
      case PlanOp::kArray:
        if (!IsIntegral(x[1], 4294967295.0)) return fail("an array max is not a uint32");
        if (!(x[2] >= 1)) return fail("an array element takes no bytes");
        node.a = static_cast<uint32_t>(x[1]);
        node.min_size = x[2];
        if (!node_ref(x[3], &node.b)) return fail("an array element names no node");
        break;
      case PlanOp::kFixedArray:
        if (!IsIntegral(x[1], 4294967295.0)) return fail("an array length is not a uint32");
        node.a = static_cast<uint32_t>(x[1]);
        if (!node_ref(x[2], &node.b)) return fail("an array element names no node");
        break;
      case PlanOp::kOptional: case PlanOp::kRecursive:
        if (!node_ref(x[1], &node.b)) return fail("a child names no node");
        break;
      case PlanOp::kStruct:
        node.a = static_cast<uint32_t>(x[1]);
        node.first = static_cast<uint32_t>(plan.pairs_.size());
        for (uint32_t i = 0; i < node.a; ++i) {
          Pair p;
          if (!IsIntegral(x[2 + 2 * i], static_cast<double>(plan.names_.size()) - 1)) return fail("a field name is out of range");
          p.key = static_cast<int64_t>(x[2 + 2 * i]);
          if (!node_ref(x[3 + 2 * i], &p.node)) return fail("a field names no node");
          plan.pairs_.push_back(p);
        }
        break;
      case PlanOp::kUnion: {
        if (!node_ref(x[1], &node.b)) return fail("a discriminant names no node");
        node.a = static_cast<uint32_t>(x[2]);
        node.first = static_cast<uint32_t>(plan.pairs_.size());
        for (uint32_t i = 0; i < node.a; ++i) {
          Pair p;
          const double v = x[3 + 2 * i];
          if (!(v >= -2147483648.0 && v <= 4294967295.0 && std::floor(v) == v)) return fail("a case is not a 32-bit value");
          p.key = static_cast<int64_t>(v);
          if (!node_ref(x[4 + 2 * i], &p.node)) return fail("an arm names no node");
          plan.pairs_.push_back(p);
        }
        std::sort(plan.pairs_.begin() + node.first, plan.pairs_.end(),
                  [](const Pair& lhs, const Pair& rhs) { return lhs.key < rhs.key; });
        for (uint32_t i = node.first + 1; i < plan.pairs_.size(); ++i)
          if (plan.pairs_[i].key == plan.pairs_[i - 1].key) return fail("a case appears twice");
        const double d = x[3 + 2 * node.a];
        uint32_t def = 0;
        if (d == -1) {
          node.c = -1;
        } else if (node_ref(d, &def)) {
          node.c = def;
        } else {
          return fail("a default names no node");
        }
        break;
      }
      default:
        break;
    }
    plan.nodes_.push_back(node);
  }
  // Discriminants are int, unsigned int, enum or bool.
  for (const Node& n : plan.nodes_) {
    if (n.op != PlanOp::kUnion) continue;
    const PlanOp d = plan.nodes_[n.b].op;
    if (d != PlanOp::kInt && d != PlanOp::kUint && d != PlanOp::kEnum && d != PlanOp::kBool)
      return fail("a union discriminant is not int, unsigned int, enum or bool");
  }
  // Nesting between recursive nodes is bounded (and has no cycle without
  // one): an iterative walk measuring each node's longest static chain.
  std::vector<uint32_t> chain(plan.nodes_.size(), 0);
  std::vector<uint8_t> state(plan.nodes_.size(), 0);  // 0 new, 1 on the stack, 2 done
  std::vector<std::pair<uint32_t, size_t>> stack;
  auto children = [&plan](uint32_t i, std::vector<uint32_t>* out) {
    const Node& n = plan.nodes_[i];
    out->clear();
    switch (n.op) {
      case PlanOp::kArray: case PlanOp::kFixedArray: case PlanOp::kOptional:
        out->push_back(n.b);
        break;
      case PlanOp::kStruct: case PlanOp::kUnion:
        if (n.op == PlanOp::kUnion) out->push_back(n.b);
        for (uint32_t k = 0; k < n.a; ++k) out->push_back(plan.pairs_[n.first + k].node);
        if (n.op == PlanOp::kUnion && n.c >= 0) out->push_back(static_cast<uint32_t>(n.c));
        break;
      default:
        break;  // recursive nodes end a chain: their depth is counted at decode time
    }
  };
  std::vector<uint32_t> kids;
  for (uint32_t start = 0; start < plan.nodes_.size(); ++start) {
    if (state[start] != 0) continue;
    stack.push_back({start, 0});
    state[start] = 1;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      children(node, &kids);
      if (next < kids.size()) {
        const uint32_t kid = kids[next++];
        if (state[kid] == 1) return fail("a schema contains itself outside a recursive node");
        if (state[kid] == 0) {
          state[kid] = 1;
          stack.push_back({kid, 0});
        }
        continue;
      }
      uint32_t longest = 0;
      for (uint32_t kid : kids) longest = std::max(longest, chain[kid] + 1);
      if (longest > kMaxStaticNesting) return fail("schema nesting deeper than " + Str(uint64_t{kMaxStaticNesting}));
      chain[node] = longest;
      state[node] = 2;
      stack.pop_back();
    }
  }
  const uint64_t longest = *std::max_element(chain.begin(), chain.end());
  if (uint64_t{plan.max_depth_} * (longest + 1) > kMaxDecodeFrames)
    return fail("maxDepth " + Str(uint64_t{plan.max_depth_}) + " times a nesting of " + Str(longest + 1) +
                " exceeds " + Str(kMaxDecodeFrames) + " levels");
  return plan;
}

// ---------------------------------------------------------------------------
// Decoding

class PlanDecoder {
 public:
  PlanDecoder(const DecodePlan& plan, const uint8_t* body, size_t size, std::vector<double>* out,
              DecodeFailure* failure)
      : plan_(plan), p_(body), end_(size), out_(out), failure_(failure) {}

  bool Run() {
    if (!Node(plan_.root_)) return false;
    const size_t extra = end_ - pos_;
    if (extra != 0) {
      failure_->path = plan_.names_.back();
      failure_->reason = Str(uint64_t{extra}) + " trailing byte" + (extra == 1 ? "" : "s") + " after the value";
      failure_->offset = pos_;
      return false;
    }
    return true;
  }

 private:
  // A path segment: a field name, an element index, "tag" or "value".
  struct Segment {
    enum Kind : uint8_t { kField, kIndex, kTag, kValue } kind;
    uint32_t value;
  };

  bool Fail(std::string reason, size_t offset) {
    std::string path = plan_.names_.back();
    for (const Segment& s : path_) {
      switch (s.kind) {
        case Segment::kField: path += "." + plan_.names_[s.value]; break;
        case Segment::kIndex: path += "[" + Str(uint64_t{s.value}) + "]"; break;
        case Segment::kTag: path += ".tag"; break;
        case Segment::kValue: path += ".value"; break;
      }
    }
    failure_->path = std::move(path);
    failure_->reason = std::move(reason);
    failure_->offset = offset;
    return false;
  }

  size_t left() const { return end_ - pos_; }

  bool Need(size_t n) {
    if (n > left()) return Fail("unexpected end of input: need " + Str(uint64_t{n}) + " bytes, " + Str(uint64_t{left()}) + " left", pos_);
    return true;
  }
  bool U32(uint32_t* v) {
    if (!Need(4)) return false;
    *v = (uint32_t{p_[pos_]} << 24) | (uint32_t{p_[pos_ + 1]} << 16) | (uint32_t{p_[pos_ + 2]} << 8) | p_[pos_ + 3];
    pos_ += 4;
    return true;
  }
  bool I32(int32_t* v) {
    uint32_t u;
    if (!U32(&u)) return false;
    *v = static_cast<int32_t>(u);
    return true;
  }

  // n bytes plus zero padding; `what` and `at` as in XdrReader.bytes().
  bool Bytes(uint64_t n, const char* what, size_t at, bool utf8, bool emit_length) {
    const uint64_t pad = (4 - (n & 3)) & 3;
    if (n + pad > left()) {
      std::string with_pad = pad == 0 ? "" : " (" + Str(n + pad) + " with padding)";
      return Fail(std::string(what) + " of " + Str(n) + " bytes" + with_pad + " exceeds the " + Str(uint64_t{left()}) + " bytes left", at);
    }
    const size_t start = pos_;
    if (utf8 && !IsValidUtf8(p_ + start, static_cast<size_t>(n))) return Fail(std::string(what) + " is not valid UTF-8", at);
    pos_ = start + static_cast<size_t>(n);
    for (uint64_t i = 0; i < pad; ++i)
      if (p_[pos_ + i] != 0) return Fail("non-zero padding", pos_ + static_cast<size_t>(i));
    pos_ += static_cast<size_t>(pad);
    out_->push_back(static_cast<double>(start));
    if (emit_length) out_->push_back(static_cast<double>(n));
    return true;
  }

  bool EnumHas(const DecodePlan::Node& n, int32_t v) const {
    auto first = plan_.values_.begin() + n.first;
    return std::binary_search(first, first + n.a, static_cast<int64_t>(v));
  }

  // A union's discriminant: read and checked, its wire value in *wire.
  bool Discriminant(const DecodePlan::Node& d, int64_t* wire) {
    path_.push_back({Segment::kTag, 0});
    if (d.op == PlanOp::kUint) {
      uint32_t u;
      if (!U32(&u)) return false;
      *wire = u;
    } else {
      int32_t v;
      if (!I32(&v)) return false;
      if (d.op == PlanOp::kBool && v != 0 && v != 1) return Fail("bad bool " + Str(int64_t{v}) + " (must be 0 or 1)", pos_ - 4);
      if (d.op == PlanOp::kEnum && !EnumHas(d, v)) return Fail("bad enum value " + Str(int64_t{v}), pos_ - 4);
      *wire = v;
    }
    path_.pop_back();
    return true;
  }

  bool Elements(uint32_t element, uint64_t count) {
    path_.push_back({Segment::kIndex, 0});
    for (uint64_t i = 0; i < count; ++i) {
      path_.back().value = static_cast<uint32_t>(i);
      if (!Node(element)) return false;
    }
    path_.pop_back();
    return true;
  }

  bool Node(uint32_t index) {
    const DecodePlan::Node& n = plan_.nodes_[index];
    switch (n.op) {
      case PlanOp::kInt: {
        int32_t v;
        if (!I32(&v)) return false;
        out_->push_back(v);
        return true;
      }
      case PlanOp::kUint: {
        uint32_t v;
        if (!U32(&v)) return false;
        out_->push_back(v);
        return true;
      }
      case PlanOp::kChar: case PlanOp::kShort: {
        int32_t v;
        if (!I32(&v)) return false;
        const int32_t lim = n.op == PlanOp::kChar ? 0x80 : 0x8000;
        if (v < -lim || v > lim - 1) return Fail(std::string(IntName(n.op)) + " out of range: " + Str(int64_t{v}), pos_ - 4);
        out_->push_back(v);
        return true;
      }
      case PlanOp::kUchar: case PlanOp::kUshort: {
        uint32_t v;
        if (!U32(&v)) return false;
        if (v > (n.op == PlanOp::kUchar ? 0xffu : 0xffffu)) return Fail(std::string(IntName(n.op)) + " out of range: " + Str(uint64_t{v}), pos_ - 4);
        out_->push_back(v);
        return true;
      }
      case PlanOp::kHyper: case PlanOp::kUhyper: {
        uint32_t hi = 0, lo = 0;
        if (!Need(8)) return false;
        U32(&hi);
        U32(&lo);
        out_->push_back(n.op == PlanOp::kHyper ? static_cast<double>(static_cast<int32_t>(hi)) : static_cast<double>(hi));
        out_->push_back(lo);
        return true;
      }
      case PlanOp::kFloat: {
        uint32_t bits;
        if (!U32(&bits)) return false;
        float f;
        std::memcpy(&f, &bits, sizeof f);
        out_->push_back(static_cast<double>(f));
        return true;
      }
      case PlanOp::kDouble: {
        uint32_t hi = 0, lo = 0;
        if (!Need(8)) return false;
        U32(&hi);
        U32(&lo);
        const uint64_t bits = (uint64_t{hi} << 32) | lo;
        double d;
        std::memcpy(&d, &bits, sizeof d);
        out_->push_back(d);
        return true;
      }
      case PlanOp::kBool: {
        int32_t v;
        if (!I32(&v)) return false;
        if (v != 0 && v != 1) return Fail("bad bool " + Str(int64_t{v}) + " (must be 0 or 1)", pos_ - 4);
        out_->push_back(v);
        return true;
      }
      case PlanOp::kVoid:
        return true;
      case PlanOp::kEnum: {
        int32_t v;
        if (!I32(&v)) return false;
        if (!EnumHas(n, v)) return Fail("bad enum value " + Str(int64_t{v}), pos_ - 4);
        out_->push_back(v);
        return true;
      }
      case PlanOp::kString: case PlanOp::kOpaque: {
        const size_t at = pos_;
        uint32_t len;
        if (!U32(&len)) return false;
        const bool is_string = n.op == PlanOp::kString;
        if (len > n.a)
          return Fail(std::string(is_string ? "string" : "opaque") + " longer than " + Str(uint64_t{n.a}) + " (" + Str(uint64_t{len}) + " bytes)", at);
        return Bytes(len, is_string ? "string" : "opaque", at, is_string, true);
      }
      case PlanOp::kFixedOpaque:
        return Bytes(n.a, "fixed-length opaque", pos_, false, false);
      case PlanOp::kArray: {
        const size_t at = pos_;
        uint32_t count;
        if (!U32(&count)) return false;
        if (count > n.a) return Fail("array longer than " + Str(uint64_t{n.a}) + " (" + Str(uint64_t{count}) + " elements)", at);
        // The count against the bytes left, before anything is produced.
        const double need = static_cast<double>(count) * n.min_size;
        if (need > static_cast<double>(left()))
          return Fail("array count " + Str(uint64_t{count}) + " needs at least " + FormatJsNumber(need) + " bytes, " + Str(uint64_t{left()}) + " left", at);
        out_->push_back(count);
        return Elements(n.b, count);
      }
      case PlanOp::kFixedArray:
        return Elements(n.b, n.a);
      case PlanOp::kOptional: {
        int32_t flag;
        if (!I32(&flag)) return false;
        if (flag == 0) {
          out_->push_back(0);
          return true;
        }
        if (flag != 1) return Fail("bad optional flag " + Str(int64_t{flag}) + " (must be 0 or 1)", pos_ - 4);
        out_->push_back(1);
        return Node(n.b);
      }
      case PlanOp::kStruct: {
        path_.push_back({Segment::kField, 0});
        for (uint32_t i = 0; i < n.a; ++i) {
          const DecodePlan::Pair& f = plan_.pairs_[n.first + i];
          path_.back().value = static_cast<uint32_t>(f.key);
          if (!Node(f.node)) return false;
        }
        path_.pop_back();
        return true;
      }
      case PlanOp::kUnion: {
        const size_t at = pos_;
        int64_t wire;
        if (!Discriminant(plan_.nodes_[n.b], &wire)) return false;
        auto first = plan_.pairs_.begin() + n.first, last = first + n.a;
        auto it = std::lower_bound(first, last, wire, [](const DecodePlan::Pair& p, int64_t k) { return p.key < k; });
        int64_t arm = (it != last && it->key == wire) ? int64_t{it->node} : n.c;
        if (arm < 0) return Fail("bad union discriminant " + Str(wire), at);
        out_->push_back(static_cast<double>(wire));
        if (plan_.nodes_[static_cast<size_t>(arm)].op == PlanOp::kVoid) return true;
        path_.push_back({Segment::kValue, 0});
        if (!Node(static_cast<uint32_t>(arm))) return false;
        path_.pop_back();
        return true;
      }
      case PlanOp::kRecursive: {
        if (++depth_ > plan_.max_depth_) return Fail("recursion deeper than " + Str(uint64_t{plan_.max_depth_}), pos_);
        if (!Node(n.b)) return false;
        --depth_;
        return true;
      }
    }
    return false;
  }

  const DecodePlan& plan_;
  const uint8_t* p_;
  size_t pos_ = 0;
  const size_t end_;
  uint32_t depth_ = 0;
  std::vector<Segment> path_;
  std::vector<double>* out_;
  DecodeFailure* failure_;
};

bool DecodePlan::Decode(const uint8_t* body, size_t size, std::vector<double>* out, DecodeFailure* failure) const {
  return PlanDecoder(*this, body, size, out, failure).Run();
}

}  // namespace xdrd
