// CommandQueue's push batch: the JS thread's answers of one flush cross to
// the loop thread in one locked step with one wake-up, in push order; a
// batch that ends after the queue closed drops its commands (and what they
// hold); pushes to any other queue are not held back.
#include <unistd.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "check.h"
#include "base/live_counts.h"
#include "server/commands.h"

using namespace xdrd;

namespace {

Command CloseCommand(uint64_t client_id) {
  Command c;
  c.kind = Command::Kind::kClose;
  c.client_id = client_id;
  return c;
}

// The wake-ups written to the queue's eventfd since the last read (0 if none).
uint64_t WakeCount(const CommandQueue& q) {
  uint64_t count = 0;
  return read(q.fd(), &count, sizeof count) == sizeof count ? count : 0;
}

std::vector<uint64_t> TakeIds(CommandQueue& q) {
  std::vector<Command> commands;
  std::vector<ListenerRequest> listeners;
  q.TakeAll(&commands, &listeners);
  std::vector<uint64_t> ids;
  for (const Command& c : commands) ids.push_back(c.client_id);
  return ids;
}

}  // namespace

XT_TEST(push_batch_hands_its_commands_over_at_its_end_with_one_wake) {
  RefPtr<CommandQueue> q = MakeRef<CommandQueue>();
  {
    CommandQueue::PushBatch batch(2);
    for (uint64_t id = 1; id <= 3; ++id) {
      Command c = CloseCommand(id);
      XT_CHECK(q->Push(c));
    }
    XT_CHECK_EQ(WakeCount(*q), 0u);           // nothing crossed yet
    XT_CHECK(TakeIds(*q).empty());
  }
  XT_CHECK_EQ(WakeCount(*q), 1u);             // one wake-up for the three
  XT_CHECK(TakeIds(*q) == (std::vector<uint64_t>{1, 2, 3}));  // in push order
}

XT_TEST(push_batch_ending_after_the_queue_closed_drops_its_commands) {
  RefPtr<CommandQueue> q = MakeRef<CommandQueue>();
  const int64_t messages_before = ReadLiveCounts().messages;
  {
    CommandQueue::PushBatch batch;
    {
      Command c = CloseCommand(7);
      XT_CHECK(q->Push(c));
    }
    std::vector<Command> leftovers;
    std::vector<ListenerRequest> listeners;
    q->Close(&leftovers, &listeners);
    XT_CHECK(leftovers.empty());               // the command is still the batch's
    XT_CHECK_EQ(ReadLiveCounts().messages, messages_before + 1);
  }
  XT_CHECK_EQ(ReadLiveCounts().messages, messages_before);  // dropped at the end
  XT_CHECK_EQ(WakeCount(*q), 0u);
  q->Open();
  XT_CHECK(TakeIds(*q).empty());
}

XT_TEST(push_batch_lets_pushes_to_another_queue_through_at_once) {
  RefPtr<CommandQueue> first = MakeRef<CommandQueue>();
  RefPtr<CommandQueue> other = MakeRef<CommandQueue>();
  {
    CommandQueue::PushBatch batch;
    Command a = CloseCommand(1);
    XT_CHECK(first->Push(a));
    Command b = CloseCommand(2);
    XT_CHECK(other->Push(b));
    XT_CHECK(TakeIds(*other) == (std::vector<uint64_t>{2}));
    XT_CHECK(TakeIds(*first).empty());
  }
  XT_CHECK(TakeIds(*first) == (std::vector<uint64_t>{1}));
}

XT_TEST(push_batch_holds_its_queue_alive) {
  RefPtr<CommandQueue> q = MakeRef<CommandQueue>();
  CommandQueue* raw = q.get();
  {
    CommandQueue::PushBatch batch;
    Command c = CloseCommand(3);
    XT_CHECK(q->Push(c));
    q = RefPtr<CommandQueue>();  // the caller's reference goes; the batch keeps one
    XT_CHECK(raw->fd() >= 0);
  }
}
