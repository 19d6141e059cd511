// Fuzzes the rings the dataplane shares: SpscRingView over memory another process writes (the
// inject ring the dataplane consumes, the punt ring it produces into), CheckInject on what comes
// out, and the HandoffRings between workers.
//
// Byte 0 even: the MTU (2 bytes, big endian, folded into 576..9000), then one shared ring of 8
// slots of the real slot size, worked by ops that play both an honest peer and a corrupting one:
//   0 tail := u32       1 head := u32 (the other side's index, any value)
//   2 write bytes into the slot array at any offset (headers, lengths, kinds)
//   3 consumer step     4 consumer Reset     5 producer: Punt a packet (kind, port, length)
// Checked: the consumer never yields an entry outside its slot or longer than a slot holds; an
// impossible distance or length marks the ring corrupt and Reset empties it; an accepted inject
// obeys the rule in punt_inject.h and fits the worker's buffer (BufferStrideFor) behind a
// virtio-net header; the producer writes only the slot at its tail, whatever the head says, and
// counts every packet as punted or punt_ring_full. While nothing corrupting happened, entries come
// out exactly as they went in (FIFO, same kind, port, bytes).
//
// Byte 0 odd: HandoffRings for 2 or 3 workers (byte 1), datagrams up to 32..95 bytes (byte 2),
// against a model (one queue per ordered pair); op % 3:
//   0 push from -> to (length, fill), 1 + (op >> 2) % 64 times
//   1 pop from -> to, as many times        2 worker: sleep (op & 4) or not, notify, awake
// Checked: every ring holds SlotsPerRing entries and at least max_datagram bytes per entry; a
// push fails exactly when the model's queue is full or the datagram does not fit; pops return
// the model's front (rings never mix); a worker that announced sleep is woken through its eventfd
// and one that is awake is not.
#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include "dataplane/buffer_pool.h"
#include "dataplane/handoff.h"
#include "dataplane/punt_budget.h"
#include "dataplane/punt_inject.h"
#include "dataplane/vnet.h"
#include "shared/wire.h"
#include "tests/fuzz/fuzz_dp_reference.h"

namespace {

using namespace ipop;
namespace vnet = ipop::dp::vnet;
using fuzz::Require;

// Punts the budget refused (dataplane/punt_budget.h), each under its own reason.
uint64_t BudgetDrops(const shm::WorkerCounters& c) {
  uint64_t n = 0;
  for (DropReason r : {DropReason::punt_tap_limited, DropReason::punt_ring_reserved,
                       DropReason::punt_source_limited, DropReason::punt_untracked_limited,
                       DropReason::punt_underlay_limited})
    n += c.drop[uint32_t(r)].load();
  return n;
}

struct Reader {
  const uint8_t* p;
  size_t left;
  bool Has(size_t n) const { return left >= n; }
  uint8_t U8() {
    if (!left) return 0;
    --left;
    return *p++;
  }
  uint16_t U16() { return uint16_t(U8() << 8 | U8()); }
  uint32_t U32() { return uint32_t(U16()) << 16 | U16(); }
};

struct Item {
  uint16_t kind = 0, port = 0;
  uint32_t worker = 0;
  std::vector<uint8_t> bytes;
};

// The contract of CheckInject (punt_inject.h), from its comment.
bool InjectAllowed(const SpscRingView::Entry& e, uint32_t mtu) {
  const size_t len = e.payload.size();
  if (e.meta.kind == uint16_t(shm::InjectKind::kUnderlayDatagram))
    return len >= 1 && len <= wire::kMaxDatagram && e.meta.port != 0;
  if (e.meta.kind == uint16_t(shm::InjectKind::kTapFrame)) return len >= 14 && len <= 14 + mtu;
  return false;
}

void SharedRing(Reader in) {
  constexpr uint32_t kSlots = 8;
  constexpr uint32_t kSlotSize = shm::kRingSlotSize;
  const uint32_t raw_mtu = in.U16();
  const uint32_t mtu =
      raw_mtu >= 576 && raw_mtu <= 9000 ? raw_mtu : 576 + raw_mtu % (9000 - 576 + 1);
  auto shared = std::make_unique<SpscRingShared>();
  shared->head.store(0);
  shared->tail.store(0);
  auto slots = std::make_unique<uint8_t[]>(size_t{kSlots} * kSlotSize);
  SpscRingView consumer(shared.get(), slots.get(), kSlots, kSlotSize);
  SpscRingView producer(shared.get(), slots.get(), kSlots, kSlotSize);
  Require(consumer.max_payload() == kSlotSize - sizeof(RingSlotHeader));
  auto counters = std::make_unique<shm::WorkerCounters>();
  std::deque<Item> model;
  bool honest = true;  // no write from the "other process" yet: FIFO must hold exactly
  uint64_t punts = 0;
  dp::PuntBudget budget(1);
  uint64_t now_ns = 1'000'000'000;

  for (int steps = 0; steps < 256 && in.Has(1); ++steps) {
    switch (in.U8() % 6) {
      case 0:
        shared->tail.store(in.U32());
        honest = false;
        break;
      case 1:
        shared->head.store(in.U32());
        honest = false;
        break;
      case 2: {
        const size_t at = in.U16() % (size_t{kSlots} * kSlotSize);
        const size_t n = std::min<size_t>(in.U8(), size_t{kSlots} * kSlotSize - at);
        for (size_t i = 0; i < n; ++i) slots[at + i] = in.U8();
        honest = false;
        break;
      }
      case 3: {
        const uint32_t head = shared->head.load(), tail = shared->tail.load();
        SpscRingView::Entry e;
        const bool got = consumer.Peek(e);
        // A cached tail may be stale once the other side misbehaves; every entry still has to
        // lie in its slot. Corruption is only possible then.
        if (consumer.corrupt()) Require(!honest);
        if (!got) {
          Require(!honest || (head == tail && model.empty()));
          break;
        }
        if (honest) Require(tail - head >= 1 && tail - head <= kSlots);
        const uint8_t* slot = slots.get() + size_t(head % kSlots) * kSlotSize;
        Require(e.payload.data() == slot + sizeof(RingSlotHeader));
        Require(e.payload.size() == e.meta.length && e.meta.length <= consumer.max_payload());
        if (consumer.corrupt()) break;  // the worker resets the ring instead (op 4)
        const dp::InjectAction action = dp::CheckInject(e, mtu);
        Require((action != dp::InjectAction::kReject) == InjectAllowed(e, mtu));
        if (action != dp::InjectAction::kReject) {
          // The worker copies it into one buffer, behind a virtio-net header for the TAP.
          Require(vnet::kHeaderSize + e.payload.size() <= dp::BufferStrideFor(mtu));
          Require(action == (e.meta.kind == uint16_t(shm::InjectKind::kTapFrame)
                                 ? dp::InjectAction::kWriteTap
                                 : dp::InjectAction::kSendUnderlay));
        }
        if (honest) {
          Require(!model.empty());
          const Item& want = model.front();
          Require(e.meta.kind == want.kind && e.meta.port == want.port &&
                  e.meta.worker == want.worker);
          Require(
              std::equal(e.payload.begin(), e.payload.end(), want.bytes.begin(), want.bytes.end()));
          model.pop_front();
        }
        consumer.Pop();
        break;
      }
      case 4:
        consumer.Reset();
        Require(!consumer.corrupt() && shared->head.load() == shared->tail.load());
        model.clear();
        break;
      case 5: {
        Item it;
        it.kind = uint16_t(1 + in.U8() % 2);
        it.port = in.U16();
        it.worker = in.U8();
        const size_t len = in.U16() % (kSlotSize + 64);
        const uint8_t fill = in.U8();
        it.bytes.assign(len, fill);
        for (size_t i = 0; i < len; i += 61) it.bytes[i] = uint8_t(i);
        dp::Packet p;
        p.data = it.bytes.data();
        p.len = uint32_t(len);
        p.port = it.port;
        std::memset(p.addr, 0xab, sizeof(p.addr));
        const uint32_t head = shared->head.load(), tail = shared->tail.load();
        std::vector<uint8_t> before(slots.get(), slots.get() + size_t{kSlots} * kSlotSize);
        const uint64_t pushed = counters->stat[uint32_t(Stat::punted)].load();
        const uint64_t refused = BudgetDrops(*counters);
        // A budget refusal is just another failed punt for the ring's invariants below; time
        // moves 1 ms per punt so budgets refill as in a real worker.
        now_ns += 1'000'000;
        dp::Punt(producer, p, shm::PuntKind(it.kind), it.worker, *counters, budget, now_ns);
        ++punts;
        const bool ok = counters->stat[uint32_t(Stat::punted)].load() == pushed + 1;
        // Only the slot at the tail may change, and only on success.
        const size_t written = size_t(tail % kSlots) * kSlotSize;
        for (size_t i = 0; i < before.size(); ++i)
          if (!ok || i < written || i >= written + kSlotSize) Require(slots[i] == before[i]);
        Require(shared->tail.load() == tail + (ok ? 1 : 0));
        if (len > producer.max_payload() || (honest && tail - head > kSlots - 1)) Require(!ok);
        if (ok) {
          RingSlotHeader h;
          std::memcpy(&h, slots.get() + written, sizeof(h));
          Require(h.length == len && h.kind == it.kind && h.worker == it.worker);
          Require(std::memcmp(slots.get() + written + sizeof(h), it.bytes.data(), len) == 0);
          if (it.kind == uint16_t(shm::PuntKind::kTapFrame)) it.port = 0;
          if (honest) model.push_back(std::move(it));
        } else if (honest) {
          Require(len > producer.max_payload() || model.size() == kSlots ||
                  BudgetDrops(*counters) == refused + 1);
        }
        break;
      }
    }
  }
  Require(counters->stat[uint32_t(Stat::punted)].load() +
              counters->drop[uint32_t(DropReason::punt_ring_full)].load() +
              BudgetDrops(*counters) ==
          punts);
}

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void Handoff(Reader in) {
  const uint32_t n = 2 + in.U8() % 2;
  const uint32_t max_datagram = 32 + in.U8() % 64;
  dp::HandoffRings rings(n, max_datagram);
  Require(rings.n_workers() == n && rings.slots() == dp::HandoffRings::SlotsPerRing(n));
  Require(rings.slots() >= dp::HandoffRings::kMinSlots &&
          (rings.slots() & (rings.slots() - 1)) == 0);
  std::vector<SpscRingView> prod, cons;
  std::vector<std::deque<Item>> model(n * n);
  for (uint32_t i = 0; i < n * n; ++i) {
    const uint32_t from = i / n, to = i % n;
    prod.push_back(from == to ? SpscRingView() : rings.Ring(from, to));
    cons.push_back(from == to ? SpscRingView() : rings.Ring(from, to));
    if (from != to) {
      Require(prod.back().capacity() == rings.slots());
      Require(prod.back().max_payload() >= max_datagram);
    }
  }
  auto pair = [&](uint8_t b) {
    const uint32_t from = b % n, to = (from + 1 + (b / n) % (n - 1)) % n;
    return from * n + to;
  };
  auto pop = [&](uint32_t i) {
    SpscRingView::Entry e;
    const bool got = cons[i].Peek(e);
    Require(!cons[i].corrupt() && got == !model[i].empty());
    if (!got) return;
    const Item& want = model[i].front();
    Require(e.meta.port == want.port && e.meta.worker == want.worker);
    Require(std::equal(e.payload.begin(), e.payload.end(), want.bytes.begin(), want.bytes.end()));
    cons[i].Pop();
    model[i].pop_front();
  };
  for (int steps = 0; steps < 512 && in.Has(1); ++steps) {
    const uint8_t op = in.U8();
    switch (op % 3) {
      case 0: {
        const uint32_t i = pair(in.U8());
        const uint32_t repeat = 1 + (op >> 2) % 64;  // fill rings quickly
        const size_t len = in.U16() % (max_datagram + 128);
        const uint8_t fill = in.U8();
        for (uint32_t k = 0; k < repeat; ++k) {
          Item it;
          it.port = uint16_t(k);
          it.worker = i / n;
          it.bytes.assign(len, uint8_t(fill + k));
          RingSlotHeader meta{};
          meta.port = it.port;
          meta.worker = it.worker;
          const bool fits = len <= prod[i].max_payload() && model[i].size() < rings.slots();
          Require(prod[i].TryPush(meta, it.bytes) == fits);
          if (fits) model[i].push_back(std::move(it));
          Require(prod[i].size_approx() == model[i].size());
        }
        break;
      }
      case 1: {
        const uint32_t i = pair(in.U8());
        for (uint32_t k = 0, repeat = 1 + (op >> 2) % 64; k < repeat; ++k) pop(i);
        break;
      }
      case 2: {
        const uint32_t w = in.U8() % n;
        const int fd = rings.wake_fd(w);
        if (fd < 0) break;
        Require(!Readable(fd));
        const bool sleeping = op & 4;
        if (sleeping) rings.Sleep(w);
        rings.Notify(w);
        Require(Readable(fd) == sleeping);
        if (sleeping) {
          uint64_t v = 0;
          Require(read(fd, &v, sizeof(v)) == sizeof(v) && v == 1);
          rings.Awake(w);
        }
        break;
      }
    }
  }
  for (uint32_t i = 0; i < n * n; ++i)
    while (!model[i].empty()) pop(i);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Reader in{data + 1, size - 1};
  if (data[0] % 2 == 0)
    SharedRing(in);
  else
    Handoff(in);
  return 0;
}
