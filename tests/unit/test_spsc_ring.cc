// SpscRingView over plain heap memory laid out like the shm region: full/empty, limits, metadata,
// two threads moving a million sequenced messages, corruption detection/repair and restarts.
#include "shared/spsc_ring.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <thread>
#include <vector>

namespace ipop {
namespace {

constexpr uint32_t kCapacity = 64;
constexpr uint32_t kSlotSize = 256;

// One malloc'd block: the shared indices followed by the slot array, as in the shm region.
class RingMemory {
 public:
  explicit RingMemory(uint32_t capacity = kCapacity, uint32_t slot_size = kSlotSize,
                      uint32_t start_index = 0)
      : capacity_(capacity), slot_size_(slot_size) {
    const size_t bytes = sizeof(SpscRingShared) + size_t(capacity) * slot_size;
    block_ = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    std::memset(block_, 0xcd, bytes);  // slots start as garbage, like a fresh region would not
    shared_ = new (block_) SpscRingShared{};
    shared_->head.store(start_index);
    shared_->tail.store(start_index);
  }
  ~RingMemory() { std::free(block_); }
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;

  SpscRingView View() const {
    return SpscRingView(shared_, block_ + sizeof(SpscRingShared), capacity_, slot_size_);
  }
  SpscRingShared* shared() const { return shared_; }
  uint8_t* slot(uint32_t i) const { return block_ + sizeof(SpscRingShared) + i * slot_size_; }

 private:
  uint32_t capacity_, slot_size_;
  uint8_t* block_ = nullptr;
  SpscRingShared* shared_ = nullptr;
};

RingSlotHeader Meta(uint16_t kind, uint32_t worker) {
  RingSlotHeader m{};
  m.kind = kind;
  m.port = 5800;
  for (int i = 0; i < 16; ++i) m.addr[i] = uint8_t(i + worker);
  m.worker = worker;
  return m;
}

std::vector<uint8_t> Payload(uint32_t seq, size_t len) {
  std::vector<uint8_t> p(len);
  for (size_t i = 0; i < len; ++i) p[i] = uint8_t(seq + i);
  return p;
}

TEST(SpscRing, EmptyThenFullThenEmpty) {
  RingMemory mem;
  SpscRingView producer = mem.View(), consumer = mem.View();
  SpscRingView::Entry e;
  EXPECT_FALSE(consumer.Peek(e));
  EXPECT_EQ(kCapacity, producer.capacity());
  for (uint32_t i = 0; i < kCapacity; ++i)
    ASSERT_TRUE(producer.TryPush(Meta(1, i), Payload(i, 10)));
  EXPECT_FALSE(producer.TryPush(Meta(1, 99), Payload(99, 10)));  // full: nothing overwritten
  EXPECT_EQ(kCapacity, consumer.size_approx());
  for (uint32_t i = 0; i < kCapacity; ++i) {
    ASSERT_TRUE(consumer.Peek(e));
    EXPECT_EQ(i, e.meta.worker);
    EXPECT_EQ(Payload(i, 10), std::vector<uint8_t>(e.payload.begin(), e.payload.end()));
    consumer.Pop();
    if (i == 0) {  // one slot free again, and only one
      EXPECT_TRUE(producer.TryPush(Meta(1, 1000), Payload(0, 1)));
      EXPECT_FALSE(producer.TryPush(Meta(1, 1001), Payload(0, 1)));
    }
  }
  ASSERT_TRUE(consumer.Peek(e));
  EXPECT_EQ(1000u, e.meta.worker);
  consumer.Pop();
  EXPECT_FALSE(consumer.Peek(e));
  EXPECT_FALSE(consumer.corrupt());
}

TEST(SpscRing, PayloadLimits) {
  RingMemory mem;
  SpscRingView ring = mem.View();
  EXPECT_EQ(kSlotSize - sizeof(RingSlotHeader), ring.max_payload());
  EXPECT_FALSE(ring.TryPush(Meta(1, 0), Payload(0, ring.max_payload() + 1)));
  EXPECT_EQ(0u, ring.size_approx());
  ASSERT_TRUE(ring.TryPush(Meta(1, 0), Payload(7, ring.max_payload())));
  ASSERT_TRUE(ring.TryPush(Meta(1, 0), {}));
  SpscRingView::Entry e;
  ASSERT_TRUE(ring.Peek(e));
  EXPECT_EQ(Payload(7, ring.max_payload()),
            std::vector<uint8_t>(e.payload.begin(), e.payload.end()));
  ring.Pop();
  ASSERT_TRUE(ring.Peek(e));
  EXPECT_TRUE(e.payload.empty());
}

TEST(SpscRing, MetadataPreservedAndLengthOverwritten) {
  RingMemory mem;
  SpscRingView ring = mem.View();
  RingSlotHeader m = Meta(2, 7);
  m.length = 12345;  // the ring sets length from the payload, whatever the caller passed
  m.port = 65535;
  m.reserved = 0xabcd;
  ASSERT_TRUE(ring.TryPush(m, Payload(3, 33)));
  SpscRingView::Entry e;
  ASSERT_TRUE(ring.Peek(e));
  EXPECT_EQ(33u, e.meta.length);
  EXPECT_EQ(2, e.meta.kind);
  EXPECT_EQ(65535, e.meta.port);
  EXPECT_EQ(7u, e.meta.worker);
  EXPECT_EQ(0xabcdu, e.meta.reserved);
  EXPECT_EQ(0, std::memcmp(m.addr, e.meta.addr, 16));
}

TEST(SpscRing, IndicesWrapAround32Bits) {
  RingMemory mem(kCapacity, kSlotSize, 0xffffffffu - 10);
  SpscRingView producer = mem.View(), consumer = mem.View();
  for (uint32_t i = 0; i < 1000; ++i) {
    ASSERT_TRUE(producer.TryPush(Meta(1, i), Payload(i, 4)));
    SpscRingView::Entry e;
    ASSERT_TRUE(consumer.Peek(e)) << i;
    ASSERT_EQ(i, e.meta.worker);
    consumer.Pop();
  }
  EXPECT_FALSE(consumer.corrupt());
}

TEST(SpscRing, TwoThreadsMoveAMillionMessagesInOrder) {
  RingMemory mem(512, 64);
  constexpr uint32_t kMessages = 1'000'000;
  std::thread producer([&] {
    SpscRingView ring = mem.View();
    for (uint32_t seq = 0; seq < kMessages;) {
      RingSlotHeader m{};
      m.worker = seq;
      uint8_t body[8];
      std::memcpy(body, &seq, 4);
      std::memcpy(body + 4, &seq, 4);
      if (ring.TryPush(m, std::span<const uint8_t>(body, 4 + seq % 5))) {
        ++seq;
      } else {
        std::this_thread::yield();  // shared 2-core machine: do not starve the consumer
      }
    }
  });
  SpscRingView ring = mem.View();
  uint32_t expected = 0, mismatches = 0;
  while (expected < kMessages) {
    SpscRingView::Entry e;
    if (!ring.Peek(e)) {
      ASSERT_FALSE(ring.corrupt());
      std::this_thread::yield();
      continue;
    }
    uint32_t body_seq = ~0u;
    if (e.payload.size() >= 4) std::memcpy(&body_seq, e.payload.data(), 4);
    if (e.meta.worker != expected || body_seq != expected || e.payload.size() != 4 + expected % 5)
      ++mismatches;
    ring.Pop();
    ++expected;
  }
  producer.join();
  EXPECT_EQ(0u, mismatches);
  SpscRingView::Entry e;
  EXPECT_FALSE(ring.Peek(e));
}

TEST(SpscRing, TailTooFarAheadIsCorruptAndResetRecovers) {
  RingMemory mem;
  SpscRingView producer = mem.View(), consumer = mem.View();
  ASSERT_TRUE(producer.TryPush(Meta(1, 1), Payload(1, 8)));
  mem.shared()->tail.store(mem.shared()->head.load() + kCapacity + 5);  // impossible distance
  SpscRingView::Entry e;
  EXPECT_FALSE(consumer.Peek(e));
  EXPECT_TRUE(consumer.corrupt());
  consumer.Reset();
  EXPECT_FALSE(consumer.corrupt());
  EXPECT_EQ(0u, consumer.size_approx());
  EXPECT_FALSE(consumer.Peek(e));
  // A new producer view (the peer re-attached after the repair) works from the repaired indices.
  SpscRingView producer2 = mem.View();
  ASSERT_TRUE(producer2.TryPush(Meta(1, 42), Payload(42, 8)));
  ASSERT_TRUE(consumer.Peek(e));
  EXPECT_EQ(42u, e.meta.worker);
  consumer.Pop();
}

TEST(SpscRing, HeadAheadOfTailIsCorruptAndResetRecovers) {
  RingMemory mem;
  SpscRingView producer = mem.View(), consumer = mem.View();
  ASSERT_TRUE(producer.TryPush(Meta(1, 1), Payload(1, 8)));
  mem.shared()->head.store(mem.shared()->tail.load() + 3);  // consumer index past producer's
  SpscRingView::Entry e;
  EXPECT_FALSE(consumer.Peek(e));
  EXPECT_TRUE(consumer.corrupt());
  consumer.Reset();
  EXPECT_FALSE(consumer.corrupt());
  EXPECT_FALSE(consumer.Peek(e));
  for (uint32_t i = 0; i < 3 * kCapacity; ++i) {
    ASSERT_TRUE(producer.TryPush(Meta(1, i), Payload(i, 8))) << i;
    ASSERT_TRUE(consumer.Peek(e)) << i;
    EXPECT_EQ(i, e.meta.worker);
    consumer.Pop();
  }
  EXPECT_FALSE(consumer.corrupt());
}

TEST(SpscRing, OversizeLengthInSlotIsCorruptButBounded) {
  RingMemory mem;
  SpscRingView ring = mem.View();
  ASSERT_TRUE(ring.TryPush(Meta(1, 1), Payload(1, 8)));
  RingSlotHeader* h = reinterpret_cast<RingSlotHeader*>(mem.slot(0));
  h->length = 0x7fffffff;  // a hostile producer's length
  SpscRingView::Entry e;
  ASSERT_TRUE(ring.Peek(e));
  EXPECT_TRUE(ring.corrupt());
  EXPECT_TRUE(e.payload.empty());  // never a span beyond the slot
  ring.Pop();
  ring.Reset();
  EXPECT_FALSE(ring.corrupt());
}

TEST(SpscRing, RecreatedViewsContinueMidStream) {
  RingMemory mem;
  auto producer = std::make_unique<SpscRingView>(mem.View());
  auto consumer = std::make_unique<SpscRingView>(mem.View());
  uint32_t next_push = 0, next_pop = 0;
  for (int restart = 0; restart < 200; ++restart) {
    // Push and pop uneven amounts so restarts land at every fill level and ring position.
    const uint32_t pushes = uint32_t(restart * 7 % (kCapacity + 1));
    for (uint32_t i = 0; i < pushes; ++i)
      if (producer->TryPush(Meta(1, next_push), Payload(next_push, 5))) ++next_push;
    const uint32_t pops = uint32_t(restart * 5 % (kCapacity + 1));
    for (uint32_t i = 0; i < pops; ++i) {
      SpscRingView::Entry e;
      if (!consumer->Peek(e)) break;
      ASSERT_EQ(next_pop, e.meta.worker);
      ASSERT_EQ(Payload(next_pop, 5), std::vector<uint8_t>(e.payload.begin(), e.payload.end()));
      consumer->Pop();
      ++next_pop;
    }
    // Simulate a process restart of one side (alternating): its view and caches start fresh.
    if (restart % 2 == 0) {
      consumer = std::make_unique<SpscRingView>(mem.View());
    } else {
      producer = std::make_unique<SpscRingView>(mem.View());
    }
    ASSERT_FALSE(consumer->corrupt());
  }
  SpscRingView::Entry e;
  while (consumer->Peek(e)) {
    ASSERT_EQ(next_pop, e.meta.worker);
    consumer->Pop();
    ++next_pop;
  }
  EXPECT_EQ(next_push, next_pop);
  EXPECT_GT(next_push, 1000u);
}

}  // namespace
}  // namespace ipop
