// Waking a blocked dataplane worker from another process (shared/worker_wake.h): the producer
// makes no syscall while the worker is awake, and a wake reaches the io_uring futex wait the
// worker blocks in (UringIo::PrepFutexWait's hand-built SQE).
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "dataplane/uring_io.h"
#include "shared/worker_wake.h"
#include "tests/unit/kernel_version.h"

namespace ipop {
namespace {

TEST(WorkerWake, ProducerLeavesAnAwakeWorkerAlone) {
  shm::WorkerState w{};
  EXPECT_FALSE(shm::WakeWorker(w));
  EXPECT_EQ(w.wake_word.load(), 0u);
  const uint32_t v = shm::PrepareToSleep(w);
  EXPECT_EQ(w.sleeping.load(), 1u);
  shm::Awake(w);
  EXPECT_FALSE(shm::WakeWorker(w));
  EXPECT_EQ(w.wake_word.load(), v);
}

class UringFutexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds_), 0);
    std::string error;
    // IORING_OP_FUTEX_WAIT came with Linux 6.7; from there on the ring's probe must report it.
    if (!ipop::testing::KernelAtLeast(6, 7))
      GTEST_SKIP() << "kernel has no IORING_OP_FUTEX_WAIT (Linux < 6.7)";
    ASSERT_TRUE(io_.Init(8, 16, fds_[0], fds_[1], &error)) << error;
    ASSERT_TRUE(io_.futex_wait()) << "Linux >= 6.7, but UringIo found no IORING_OP_FUTEX_WAIT";
  }
  void TearDown() override {
    close(fds_[0]);
    close(fds_[1]);
  }
  // Waits up to `ms` for the futex-wait completion; returns its result, or 1 if none came.
  int WaitForWake(uint32_t ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      io_.Wait(50);
      io_uring_cqe* cqes[4];
      const unsigned n = io_.Peek(cqes, 4);
      for (unsigned i = 0; i < n; ++i) {
        if (dp::OpOf(cqes[i]->user_data) == dp::Op::kInjectWake) {
          const int res = cqes[i]->res;
          io_.Advance(n);
          return res;
        }
      }
      io_.Advance(n);
    }
    return 1;
  }
  int fds_[2] = {-1, -1};
  dp::UringIo io_;
  shm::WorkerState state_{};
};

TEST_F(UringFutexTest, WakeEndsTheWait) {
  const uint32_t v = shm::PrepareToSleep(state_);
  io_.PrepFutexWait(&state_.wake_word, v);
  io_.Flush();
  EXPECT_EQ(WaitForWake(200), 1) << "completed without a wake";
  std::thread producer([this] { EXPECT_TRUE(shm::WakeWorker(state_)); });
  EXPECT_EQ(WaitForWake(10000), 0);
  producer.join();
}

TEST_F(UringFutexTest, WordMovedBeforeTheWaitCompletesAtOnce) {
  const uint32_t v = shm::PrepareToSleep(state_);
  EXPECT_TRUE(shm::WakeWorker(state_));  // the producer came between the read and the wait
  io_.PrepFutexWait(&state_.wake_word, v);
  EXPECT_EQ(WaitForWake(10000), -EAGAIN);
}

}  // namespace
}  // namespace ipop
