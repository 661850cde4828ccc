// The harness runner: registered tests run in file order; the exit code is
// the number of failed tests (capped), so ctest sees any failure.
#include "check.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace xt {
namespace {

struct Entry {
  const char* name;
  TestFn fn;
};

std::vector<Entry>& Registry() {
  static std::vector<Entry> tests;
  return tests;
}

int g_failures_in_test = 0;

}  // namespace

Registrar::Registrar(const char* name, TestFn fn) { Registry().push_back({name, fn}); }

void Fail(const char* file, int line, const std::string& what) {
  ++g_failures_in_test;
  std::fprintf(stderr, "  %s:%d: %s\n", file, line, what.c_str());
}

void Skip(const char* file, int line, const std::string& why) {
  const char* ci = std::getenv("XDRD_CI");
  if (ci != nullptr && std::strcmp(ci, "1") == 0) {
    Fail(file, line, "skipped, which XDRD_CI=1 does not allow: " + why);
    return;
  }
  std::fprintf(stderr, "  SKIP: %s\n", why.c_str());
}

std::string HexDump(const std::vector<uint8_t>& bytes) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i % 16 == 0) {
      char off[40];
      std::snprintf(off, sizeof off, "%s%06zx:", i ? "\n    " : "    ", i);
      out += off;
    }
    if (i % 4 == 0) out += ' ';
    std::snprintf(buf, sizeof buf, "%02x", bytes[i]);
    out += buf;
  }
  return out;
}

bool BytesEqual(const char* file, int line, const std::vector<uint8_t>& actual,
                const std::vector<uint8_t>& expected) {
  if (actual == expected) return true;
  size_t first = 0;
  while (first < actual.size() && first < expected.size() && actual[first] == expected[first]) ++first;
  Fail(file, line,
       "bytes differ at offset " + std::to_string(first) + " (actual " +
           std::to_string(actual.size()) + " bytes, expected " + std::to_string(expected.size()) +
           ")\n  actual:\n" + HexDump(actual) + "\n  expected:\n" + HexDump(expected));
  return false;
}

}  // namespace xt

int main(int argc, char** argv) {
  int failed = 0, ran = 0;
  for (const auto& t : xt::Registry()) {
    if (argc > 1) {
      bool wanted = false;
      for (int i = 1; i < argc; ++i) wanted |= std::strcmp(argv[i], t.name) == 0;
      if (!wanted) continue;
    }
    ++ran;
    xt::g_failures_in_test = 0;
    try {
      t.fn();
    } catch (const xt::RequireFailed&) {
      // Already reported.
    } catch (const std::exception& e) {
      xt::Fail(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    std::fprintf(stderr, "%s %s\n", xt::g_failures_in_test ? "FAIL" : "ok  ", t.name);
    if (xt::g_failures_in_test) ++failed;
  }
  std::fprintf(stderr, "%d tests, %d failed\n", ran, failed);
  if (ran == 0) return 2;  // a filter that matched nothing is an error
  return failed > 100 ? 100 : failed;
}
