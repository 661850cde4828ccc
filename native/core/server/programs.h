// programs.h — the handler table: which handler answers a (program,
// version, procedure), and what the loop answers when none does.
//
// Threads: filled on the owner thread before Start(); frozen while the
// server runs, when any thread may read it with no lock.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>

#include "server/call.h"
#include "wire/wire.h"

namespace xdrd {

// Runs on a worker thread with no lock held. It must answer the Call, now or
// later, from any thread (call.h).
using Handler = std::function<void(Call call)>;

// How a handler behaves, which decides how the workers share its calls.
struct HandlerTraits {
  // The handler never blocks: it answers at once, or hands the Call to
  // another thread and returns (the addon's JS bridge does). A worker that
  // pops a quick call also pops the quick calls queued right behind it (up
  // to Dispatcher::kMaxQuickRun) and runs them back to back, and no other
  // worker is woken for them. A handler that may block must not say so: its
  // calls are taken one at a time, and a worker that takes one while more
  // wait wakes another, so slow calls still spread over the pool.
  bool quick = false;
};

class ProgramTable {
 public:
  struct Entry {
    Handler fn;
    HandlerTraits traits;
  };

  void Add(uint32_t prog, uint32_t vers, int32_t proc, Entry entry) {
    programs_[{prog, vers}].procedures[proc] = std::move(entry);
  }
  void AddCatchAll(uint32_t prog, uint32_t vers, Entry entry) {
    programs_[{prog, vers}].catch_all = std::move(entry);
  }

  // A procedure's handler wins over its program's catch-all. Null, with
  // *error set to libvirt's wording, for an unknown program or procedure.
  const Entry* Find(const Header& h, RpcError* error) const {
    auto program = programs_.find({h.prog, h.vers});
    if (program == programs_.end()) {
      *error = UnknownProgramError(h.prog, h.vers);
      return nullptr;
    }
    auto proc = program->second.procedures.find(h.proc);
    if (proc != program->second.procedures.end()) return &proc->second;
    if (program->second.catch_all.fn) return &program->second.catch_all;
    *error = UnknownProcedureError(h.proc);
    return nullptr;
  }

 private:
  struct Program {
    std::unordered_map<int32_t, Entry> procedures;
    Entry catch_all;
  };
  std::map<std::pair<uint32_t, uint32_t>, Program> programs_;
};

}  // namespace xdrd
