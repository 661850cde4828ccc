// A small test harness for the native tests: no third-party framework, so
// `npm test` needs nothing beyond g++ and cmake.
//
//   XT_TEST(name) { ... }          one behaviour per test
//   XT_CHECK(cond)                 fails the test, keeps going
//   XT_CHECK_EQ(a, b)              prints both values on failure
//   XT_CHECK_BYTES(actual, expect) byte vectors; prints a hex dump of both
//   XT_REQUIRE(cond)               fails and leaves the test at once
//   XT_SKIP(why)                   leaves a test that cannot run here, saying
//                                  why; under XDRD_CI=1 that is a failure
//
// Run a binary with test names as arguments to run only those.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace xt {

using TestFn = void (*)();

struct Registrar {
  Registrar(const char* name, TestFn fn);
};

// Thrown by XT_REQUIRE to leave the current test.
struct RequireFailed {};

void Fail(const char* file, int line, const std::string& what);
// Reports a skip, or (under XDRD_CI=1, where everything must run) fails.
void Skip(const char* file, int line, const std::string& why);
std::string HexDump(const std::vector<uint8_t>& bytes);
bool BytesEqual(const char* file, int line, const std::vector<uint8_t>& actual,
                const std::vector<uint8_t>& expected);

template <typename T>
std::string Show(const T& v) {
  std::ostringstream os;
  if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
    os << static_cast<int>(v);
  } else if constexpr (std::is_enum_v<T>) {
    os << static_cast<long long>(v);
  } else {
    os << v;
  }
  return os.str();
}

}  // namespace xt

#define XT_TEST(name)                                  \
  static void name();                                  \
  static const ::xt::Registrar name##_registrar(#name, name); \
  static void name()

#define XT_CHECK(cond)                                           \
  do {                                                           \
    if (!(cond)) ::xt::Fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define XT_REQUIRE(cond)                                           \
  do {                                                             \
    if (!(cond)) {                                                 \
      ::xt::Fail(__FILE__, __LINE__, "REQUIRE(" #cond ")");        \
      throw ::xt::RequireFailed{};                                 \
    }                                                              \
  } while (0)

#define XT_SKIP(why)                               \
  do {                                             \
    ::xt::Skip(__FILE__, __LINE__, (why));         \
    return;                                        \
  } while (0)

#define XT_CHECK_EQ(a, b)                                                   \
  do {                                                                      \
    const auto& xt_a_ = (a);                                                \
    const auto& xt_b_ = (b);                                                \
    if (!(xt_a_ == xt_b_))                                                  \
      ::xt::Fail(__FILE__, __LINE__,                                        \
                 "CHECK_EQ(" #a ", " #b "): " + ::xt::Show(xt_a_) + " != " + \
                     ::xt::Show(xt_b_));                                    \
  } while (0)

#define XT_CHECK_BYTES(actual, expected) \
  ::xt::BytesEqual(__FILE__, __LINE__, (actual), (expected))
