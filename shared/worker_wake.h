// Waking a dataplane worker that blocks in io_uring, from another process (the control plane,
// after it pushed to the worker's inject ring). Both sides share WorkerState in the region:
//
//   worker:   v = wake_word; sleeping = 1; fence; ring empty? -> arm FUTEX_WAIT(&wake_word, v),
//   block producer: push; fence; sleeping? -> ++wake_word; FUTEX_WAKE(&wake_word)
//
// The seq_cst fences make one side see the other: either the worker finds the entry when it
// re-checks the ring, or the producer finds `sleeping` set. A bump between the worker's read of
// wake_word and its wait makes the wait fail at once (the value differs), so no wake is lost.
// The futex is a shared one (not FUTEX_PRIVATE): the two processes map the word at different
// addresses, and the kernel keys it by the mapping's page.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "shared/shm_layout.h"

namespace ipop::shm {

// Producer side, after a push to the worker's ring: a syscall only while the worker sleeps.
// Returns true if it woke the worker.
inline bool WakeWorker(WorkerState& w) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (w.sleeping.load(std::memory_order_relaxed) == 0) return false;
  w.wake_word.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&w.wake_word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
  return true;
}

// Worker side, before blocking: returns the futex value to wait for. The caller re-checks its
// rings after this and calls Awake() instead of blocking if something is there.
inline uint32_t PrepareToSleep(WorkerState& w) {
  const uint32_t v = w.wake_word.load(std::memory_order_acquire);
  w.sleeping.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return v;
}

inline void Awake(WorkerState& w) {
  w.sleeping.store(0, std::memory_order_relaxed);
}

}  // namespace ipop::shm
