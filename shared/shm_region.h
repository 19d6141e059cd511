// Creating, attaching and validating the shared region (layout in shm_layout.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "shared/shm_layout.h"

namespace ipop::shm {

class ShmRegion {
 public:
  ~ShmRegion();
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;

  // Both calls use an existing object only if it can only be this user's own: a regular file
  // owned by the effective uid with mode exactly 0600 and one name (docs/shared-memory.md,
  // "Ownership"). Anything else is refused, never mapped, written or unlinked.
  //
  // Control plane: attaches the named region if it exists and validates for n_workers; creates
  // it (O_EXCL, mode 0600 under any umask; zeroed, header initialised, magic stored last) if
  // absent. If an existing region has a different layout and no live dataplane is attached, it
  // is recreated. nullptr + *error on failure; *refused (if given) is set when that is because
  // the object is not ours.
  static std::unique_ptr<ShmRegion> CreateOrAttach(const std::string& name, uint32_t n_workers,
                                                   std::string* error, bool* refused = nullptr);
  // Dataplane: attaches an existing region and validates it; nullptr + *error if absent/invalid.
  // *refused (if given) is set when the object is not ours: waiting for the control plane cannot
  // help, so the caller should stop rather than retry.
  static std::unique_ptr<ShmRegion> Attach(const std::string& name, std::string* error,
                                           bool* refused = nullptr);
  // Removes the name (the mapping stays valid for processes that have it).
  static void Unlink(const std::string& name);
  // Removes the name only if the object is ours as Attach defines it; "" when removed or absent,
  // else why it was left in place (an object another user planted stays for the operator).
  static std::string UnlinkOwn(const std::string& name);

  // Checks a mapped region of `size` bytes: magic, version, worker count, every offset/stride and
  // the size against ComputeLayout(). Returns "" when valid, else a message naming the bad field.
  // Pure function of the bytes; the fuzz target calls it on arbitrary input.
  static std::string Validate(const void* base, size_t size, RegionLayout* layout_out);

  RegionHeader& header() { return *reinterpret_cast<RegionHeader*>(base_); }
  const RegionLayout& layout() const { return layout_; }
  uint8_t* base() { return base_; }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }

  // slot < kNumGenerations (checked by caller; asserts in debug).
  Generation* generation(uint32_t slot);
  // A fresh view of ring (kPuntRing / kInjectRing) of worker w < n_workers. Keep one per user.
  SpscRingView ring(uint32_t worker, uint32_t ring);
  WorkerCounters& counters(uint32_t worker);

 private:
  ShmRegion(std::string name, uint8_t* base, size_t size, RegionLayout layout)
      : name_(std::move(name)), base_(base), size_(size), layout_(layout) {}
  std::string name_;
  uint8_t* base_;
  size_t size_;
  RegionLayout layout_;
};

uint64_t MonotonicNs();

}  // namespace ipop::shm
