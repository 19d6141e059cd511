// Creating, attaching and validating the shared region. Both processes derive every offset from
// ComputeLayout(n_workers) and only compare the header against it, so a corrupted or hostile
// header can never steer our address arithmetic (docs/shared-memory.md).
#include "shared/shm_region.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ipop::shm {
namespace {

// How long an attacher waits for a concurrent creator to size the object and store the magic
// before it declares the object a leftover of a crashed creator.
constexpr int kInitWaitMs = 500;
constexpr int kCreateAttempts = 8;

std::string Errno(const char* what, const std::string& name) {
  return std::string(what) + " " + name + ": " + std::strerror(errno);
}

std::string Octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", mode);
  return buf;
}

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

// shm_open adds O_NOFOLLOW itself (glibc); passing it too keeps that true under any libc, since
// /dev/shm is world-writable and a planted symlink must not redirect our open.
int OpenExisting(const std::string& name) {
  return shm_open(name.c_str(), O_RDWR | O_NOFOLLOW, 0);
}

std::string OpenError(const std::string& name) {
  if (errno == ELOOP) {
    return "region " + name + " (/dev/shm" + name +
           ") is a symbolic link, which this node never creates; remove it (rm /dev/shm" + name +
           ") and start the node again";
  }
  return Errno("shm_open", name);
}

// The region holds every session key and the inject ring, and /dev/shm is writable by every local
// user: an object someone else created (or opened wider) would let them read the keys or inject
// frames. So only an object that can only be ours is used: a regular file with one name, owned by
// our effective uid, mode exactly 0600. Checked on the descriptor we go on to map, so it cannot be
// swapped between the check and the mmap. "" when the object is ours.
std::string CheckOwnObject(int fd, const std::string& name) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return Errno("fstat", name);
  const std::string path = "/dev/shm" + name;
  const uid_t me = geteuid();
  const unsigned mode = unsigned(st.st_mode) & 07777;
  std::string wrong;
  if (!S_ISREG(st.st_mode)) {
    wrong = std::string("is ") + FileKind(st.st_mode);
  } else if (st.st_uid != me || mode != 0600) {
    wrong = "is owned by uid " + std::to_string(st.st_uid) + " with mode " + Octal(mode) +
            ", expected uid " + std::to_string(me) + " and mode 0600";
  } else if (st.st_nlink != 1) {
    wrong = "has " + std::to_string(st.st_nlink) + " names (hard links), expected 1";
  } else {
    return "";
  }
  return "region " + name + " (" + path + ") " + wrong +
         ": it was not created by this node (another local user may have planted it to read the "
         "session keys); not using it. Check who created it, remove it (rm " +
         path + ") and start the node again";
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Reads a header field out of possibly unaligned, untrusted bytes.
template <typename T>
T LoadField(const uint8_t* p, size_t offset) {
  T v;
  std::memcpy(&v, p + offset, sizeof(T));
  return v;
}

void SleepMs(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1'000'000L};
  nanosleep(&ts, nullptr);
}

// The magic is the publication flag of the header: stored last with release by the creator and
// loaded with acquire by attachers, so every other header field is visible once it is seen.
uint64_t LoadMagic(uint8_t* base) {
  return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(base))
      .load(std::memory_order_acquire);
}

struct Mapping {
  uint8_t* base = nullptr;
  size_t size = 0;
  void Release() {
    if (base != nullptr) munmap(base, size);
    base = nullptr;
  }
};

enum class MapResult { kMapped, kNeverSized, kError };

// Maps fd once it is at least a header long; kNeverSized after kInitWaitMs if it never grows.
MapResult MapWhenSized(int fd, const std::string& name, Mapping* m, std::string* error) {
  for (int waited = 0;; ++waited) {
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      *error = Errno("fstat", name);
      return MapResult::kError;
    }
    if (static_cast<uint64_t>(st.st_size) >= sizeof(RegionHeader)) {
      void* p = mmap(nullptr, size_t(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        *error = Errno("mmap", name);
        return MapResult::kError;
      }
      m->base = static_cast<uint8_t*>(p);
      m->size = size_t(st.st_size);
      return MapResult::kMapped;
    }
    if (waited >= kInitWaitMs) return MapResult::kNeverSized;
    SleepMs(1);
  }
}

bool WaitForMagic(const Mapping& m) {
  for (int waited = 0; waited < kInitWaitMs; ++waited) {
    if (LoadMagic(m.base) != 0) return true;
    SleepMs(1);
  }
  return LoadMagic(m.base) != 0;
}

// A pid of 0 (or a nonsense negative value, which kill() would treat as a process group) means
// no dataplane. EPERM means the process exists but belongs to someone else: still alive.
bool PidAlive(int32_t pid) {
  if (pid <= 0) return false;
  return kill(pid, 0) == 0 || errno != ESRCH;
}

void InitHeader(uint8_t* base, const RegionLayout& l) {
  auto* h = reinterpret_cast<RegionHeader*>(base);
  h->layout_version = kLayoutVersion;
  h->n_workers = l.n_workers;
  h->region_size = l.region_size;
  h->generation_offset = l.generation_offset;
  h->generation_stride = l.generation_stride;
  h->rings_offset = l.rings_offset;
  h->ring_stride = l.ring_stride;
  h->counters_offset = l.counters_offset;
  h->counters_stride = l.counters_stride;
  h->active.store(0, std::memory_order_relaxed);
  for (auto& w : h->workers) {
    w.quiescent_seq.store(kOffline, std::memory_order_relaxed);
    w.heartbeat_ns.store(0, std::memory_order_relaxed);
  }
  std::atomic_ref<uint64_t>(h->magic).store(kMagic, std::memory_order_release);
}

}  // namespace

ShmRegion::~ShmRegion() {
  if (base_ != nullptr) munmap(base_, size_);
}

std::string ShmRegion::Validate(const void* base, size_t size, RegionLayout* layout_out) {
  if (base == nullptr || size < sizeof(RegionHeader)) {
    return "region too small: " + std::to_string(size) + " bytes, header needs " +
           std::to_string(sizeof(RegionHeader));
  }
  const auto* p = static_cast<const uint8_t*>(base);
  const auto magic = LoadField<uint64_t>(p, offsetof(RegionHeader, magic));
  if (magic != kMagic) return "magic " + Hex(magic) + " != expected " + Hex(kMagic);
  const auto version = LoadField<uint32_t>(p, offsetof(RegionHeader, layout_version));
  if (version != kLayoutVersion) {
    return "layout_version " + std::to_string(version) + " != supported " +
           std::to_string(kLayoutVersion);
  }
  const auto n_workers = LoadField<uint32_t>(p, offsetof(RegionHeader, n_workers));
  if (n_workers < 1 || n_workers > kMaxWorkers) {
    return "n_workers " + std::to_string(n_workers) + " not in 1.." + std::to_string(kMaxWorkers);
  }
  const RegionLayout want = ComputeLayout(n_workers);
  struct Check {
    const char* field;
    size_t offset;
    uint64_t expected;
  };
  const Check checks[] = {
      {"region_size", offsetof(RegionHeader, region_size), want.region_size},
      {"generation_offset", offsetof(RegionHeader, generation_offset), want.generation_offset},
      {"generation_stride", offsetof(RegionHeader, generation_stride), want.generation_stride},
      {"rings_offset", offsetof(RegionHeader, rings_offset), want.rings_offset},
      {"ring_stride", offsetof(RegionHeader, ring_stride), want.ring_stride},
      {"counters_offset", offsetof(RegionHeader, counters_offset), want.counters_offset},
      {"counters_stride", offsetof(RegionHeader, counters_stride), want.counters_stride},
  };
  for (const Check& c : checks) {
    const auto got = LoadField<uint64_t>(p, c.offset);
    if (got != c.expected) {
      return std::string(c.field) + " " + std::to_string(got) + " != expected " +
             std::to_string(c.expected) + " for " + std::to_string(n_workers) + " workers";
    }
  }
  if (want.region_size > size) {
    return "region_size " + std::to_string(want.region_size) + " exceeds mapped size " +
           std::to_string(size);
  }
  if (layout_out != nullptr) *layout_out = want;
  return "";
}

std::unique_ptr<ShmRegion> ShmRegion::CreateOrAttach(const std::string& name, uint32_t n_workers,
                                                     std::string* error, bool* refused) {
  if (refused != nullptr) *refused = false;
  if (n_workers < 1 || n_workers > kMaxWorkers) {
    *error = "n_workers " + std::to_string(n_workers) + " not in 1.." + std::to_string(kMaxWorkers);
    return nullptr;
  }
  const RegionLayout want = ComputeLayout(n_workers);
  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    int fd = OpenExisting(name);
    if (fd < 0 && errno != ENOENT) {
      if (refused != nullptr) *refused = errno == ELOOP;
      *error = OpenError(name);
      return nullptr;
    }
    if (fd < 0) {
      // O_EXCL: never adopt an object that appeared since the open above. The mode asked for is
      // narrowed by the umask; fchmod makes it exactly 0600 (what CheckOwnObject requires) under
      // any umask. It is never wider than 0600 at any moment.
      fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
      if (fd < 0 && errno == EEXIST) continue;  // another creator won the race: attach to it
      if (fd < 0) {
        *error = Errno("shm_open(O_CREAT)", name);
        return nullptr;
      }
      if (fchmod(fd, 0600) != 0) {
        *error = Errno("fchmod", name);
        close(fd);
        shm_unlink(name.c_str());
        return nullptr;
      }
      // Size first so a concurrent attacher waiting in MapWhenSized sees the final size.
      if (ftruncate(fd, off_t(want.region_size)) != 0) {
        *error = Errno("ftruncate", name);
        close(fd);
        shm_unlink(name.c_str());
        return nullptr;
      }
      void* p = mmap(nullptr, want.region_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      close(fd);
      if (p == MAP_FAILED) {
        *error = Errno("mmap", name);
        shm_unlink(name.c_str());
        return nullptr;
      }
      InitHeader(static_cast<uint8_t*>(p), want);  // a fresh object reads as zeroes
      return std::unique_ptr<ShmRegion>(
          new ShmRegion(name, static_cast<uint8_t*>(p), want.region_size, want));
    }

    // Before anything else, the stale-object recovery below included: a foreign object is never
    // mapped, written or unlinked.
    if (std::string foreign = CheckOwnObject(fd, name); !foreign.empty()) {
      if (refused != nullptr) *refused = true;
      *error = std::move(foreign);
      close(fd);
      return nullptr;
    }
    Mapping m;
    const MapResult mapped = MapWhenSized(fd, name, &m, error);
    close(fd);
    if (mapped == MapResult::kError) return nullptr;
    // Never sized or never published: its creator died mid-initialisation, so no dataplane can
    // have attached (Attach requires the magic). Replace it.
    if (mapped == MapResult::kNeverSized || !WaitForMagic(m)) {
      m.Release();
      shm_unlink(name.c_str());
      continue;
    }
    RegionLayout got{};
    const std::string invalid = Validate(m.base, m.size, &got);
    if (invalid.empty() && got.n_workers == n_workers) {
      return std::unique_ptr<ShmRegion>(new ShmRegion(name, m.base, m.size, got));
    }
    // Layout differs. Only a region carrying our magic has a dp_pid we can interpret; anything
    // else cannot be in use by an IPOP dataplane.
    const auto* h = reinterpret_cast<RegionHeader*>(m.base);
    const int32_t dp_pid =
        LoadMagic(m.base) == kMagic ? h->dp_pid.load(std::memory_order_acquire) : 0;
    if (PidAlive(dp_pid)) {
      *error = "region " + name + " is in use by dataplane pid " + std::to_string(dp_pid) +
               " with a different layout (" +
               (invalid.empty() ? "n_workers " + std::to_string(got.n_workers) : invalid) +
               ", want n_workers " + std::to_string(n_workers) +
               "); stop that dataplane or use the same worker count";
      m.Release();
      return nullptr;
    }
    m.Release();
    shm_unlink(name.c_str());
  }
  *error = "region " + name + ": could not create or attach after " +
           std::to_string(kCreateAttempts) + " attempts (concurrent creators?)";
  return nullptr;
}

std::unique_ptr<ShmRegion> ShmRegion::Attach(const std::string& name, std::string* error,
                                             bool* refused) {
  if (refused != nullptr) *refused = false;
  const int fd = OpenExisting(name);
  if (fd < 0) {
    if (refused != nullptr) *refused = errno == ELOOP;
    *error = errno == ENOENT ? "region " + name + " not found (control plane not started yet?)"
                             : OpenError(name);
    return nullptr;
  }
  if (std::string foreign = CheckOwnObject(fd, name); !foreign.empty()) {
    if (refused != nullptr) *refused = true;
    *error = std::move(foreign);
    close(fd);
    return nullptr;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    *error = Errno("fstat", name);
    close(fd);
    return nullptr;
  }
  if (static_cast<uint64_t>(st.st_size) < sizeof(RegionHeader)) {
    *error = "region " + name + " is too small (" + std::to_string(st.st_size) +
             " bytes); creator still initialising?";
    close(fd);
    return nullptr;
  }
  void* p = mmap(nullptr, size_t(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    *error = Errno("mmap", name);
    return nullptr;
  }
  auto* base = static_cast<uint8_t*>(p);
  if (LoadMagic(base) == 0) {
    *error = "region " + name + ": magic not set yet (creator still initialising)";
    munmap(p, size_t(st.st_size));
    return nullptr;
  }
  RegionLayout layout{};
  const std::string invalid = Validate(base, size_t(st.st_size), &layout);
  if (!invalid.empty()) {
    *error = "region " + name + ": " + invalid;
    munmap(p, size_t(st.st_size));
    return nullptr;
  }
  return std::unique_ptr<ShmRegion>(new ShmRegion(name, base, size_t(st.st_size), layout));
}

void ShmRegion::Unlink(const std::string& name) {
  shm_unlink(name.c_str());  // ENOENT (already gone) is the desired state; nothing else to do
}

std::string ShmRegion::UnlinkOwn(const std::string& name) {
  const int fd = shm_open(name.c_str(), O_RDONLY | O_NOFOLLOW, 0);
  if (fd < 0) return errno == ENOENT ? "" : OpenError(name);
  std::string foreign = CheckOwnObject(fd, name);
  close(fd);
  // Only the owner (or root) can remove a name from the sticky /dev/shm, so the object checked is
  // the one removed.
  if (foreign.empty()) shm_unlink(name.c_str());
  return foreign;
}

Generation* ShmRegion::generation(uint32_t slot) {
  assert(slot < kNumGenerations);
  return reinterpret_cast<Generation*>(base_ + layout_.generation_offset +
                                       uint64_t{slot} * layout_.generation_stride);
}

SpscRingView ShmRegion::ring(uint32_t worker, uint32_t ring) {
  assert(worker < layout_.n_workers && ring <= kInjectRing);
  uint8_t* shared = base_ + RingOffset(layout_, worker, ring);
  return SpscRingView(reinterpret_cast<SpscRingShared*>(shared), shared + sizeof(SpscRingShared),
                      kRingSlots, kRingSlotSize);
}

WorkerCounters& ShmRegion::counters(uint32_t worker) {
  assert(worker < layout_.n_workers);
  return *reinterpret_cast<WorkerCounters*>(base_ + layout_.counters_offset +
                                            uint64_t{worker} * layout_.counters_stride);
}

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

}  // namespace ipop::shm
