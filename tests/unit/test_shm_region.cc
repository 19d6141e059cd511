// Shared region: creation, attachment from a second mapping, header validation, recreation on a
// layout change, the refusal to pull a region out from under a live dataplane, and the refusal of
// any object this user did not create (ownership, mode, kind, links).
#include "shared/shm_region.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

namespace ipop::shm {
namespace {

std::string UniqueName() {
  static int n = 0;
  return "/ipop-test-" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

// Unlinks the name at scope exit so failing tests leave nothing in /dev/shm.
struct ScopedName {
  std::string name = UniqueName();
  ~ScopedName() { ShmRegion::Unlink(name); }
};

// A pid that certainly names no process: a child we reaped.
int32_t DeadPid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

std::vector<uint8_t> ValidHeaderImage(uint32_t n_workers, size_t* region_size) {
  const RegionLayout l = ComputeLayout(n_workers);
  std::vector<uint8_t> img(sizeof(RegionHeader), 0);
  auto put64 = [&](size_t off, uint64_t v) { std::memcpy(img.data() + off, &v, 8); };
  auto put32 = [&](size_t off, uint32_t v) { std::memcpy(img.data() + off, &v, 4); };
  put64(offsetof(RegionHeader, magic), kMagic);
  put32(offsetof(RegionHeader, layout_version), kLayoutVersion);
  put32(offsetof(RegionHeader, n_workers), n_workers);
  put64(offsetof(RegionHeader, region_size), l.region_size);
  put64(offsetof(RegionHeader, generation_offset), l.generation_offset);
  put64(offsetof(RegionHeader, generation_stride), l.generation_stride);
  put64(offsetof(RegionHeader, rings_offset), l.rings_offset);
  put64(offsetof(RegionHeader, ring_stride), l.ring_stride);
  put64(offsetof(RegionHeader, counters_offset), l.counters_offset);
  put64(offsetof(RegionHeader, counters_stride), l.counters_stride);
  *region_size = l.region_size;
  return img;
}

TEST(ShmRegion, CreateInitialisesHeader) {
  ScopedName n;
  std::string err;
  auto r = ShmRegion::CreateOrAttach(n.name, 3, &err);
  ASSERT_NE(r, nullptr) << err;
  const RegionLayout want = ComputeLayout(3);
  RegionHeader& h = r->header();
  EXPECT_EQ(h.magic, kMagic);
  EXPECT_EQ(h.layout_version, kLayoutVersion);
  EXPECT_EQ(h.n_workers, 3u);
  EXPECT_EQ(h.region_size, want.region_size);
  EXPECT_EQ(h.counters_offset, want.counters_offset);
  EXPECT_EQ(r->size(), want.region_size);
  EXPECT_EQ(r->layout().rings_offset, want.rings_offset);
  EXPECT_EQ(h.active.load(), 0u);
  for (const WorkerState& w : h.workers) EXPECT_EQ(w.quiescent_seq.load(), kOffline);
  EXPECT_EQ(h.dp_pid.load(), 0);
  EXPECT_EQ(ShmRegion::Validate(r->base(), r->size(), nullptr), "");
}

TEST(ShmRegion, SecondMappingSeesWrites) {
  ScopedName n;
  std::string err;
  auto cp = ShmRegion::CreateOrAttach(n.name, 2, &err);
  ASSERT_NE(cp, nullptr) << err;
  auto dp = ShmRegion::Attach(n.name, &err);
  ASSERT_NE(dp, nullptr) << err;
  ASSERT_NE(cp->base(), dp->base());
  EXPECT_EQ(dp->layout().n_workers, 2u);
  cp->generation(3)->hdr.seq = 77;
  EXPECT_EQ(dp->generation(3)->hdr.seq, 77u);
  dp->counters(1).drop[0].store(5);
  EXPECT_EQ(cp->counters(1).drop[0].load(), 5u);

  // A second control-plane attach with the same worker count keeps the contents.
  auto cp2 = ShmRegion::CreateOrAttach(n.name, 2, &err);
  ASSERT_NE(cp2, nullptr) << err;
  EXPECT_EQ(cp2->generation(3)->hdr.seq, 77u);
}

TEST(ShmRegion, AttachErrorsAreRetryable) {
  ScopedName n;
  std::string err;
  EXPECT_EQ(ShmRegion::Attach(n.name, &err), nullptr);
  EXPECT_NE(err.find("not found"), std::string::npos) << err;

  // A creator that has sized the object but not stored the magic yet.
  const int fd = shm_open(n.name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, off_t(ComputeLayout(1).region_size)), 0);
  close(fd);
  EXPECT_EQ(ShmRegion::Attach(n.name, &err), nullptr);
  EXPECT_NE(err.find("magic not set"), std::string::npos) << err;

  // The control plane treats such a leftover (creator died) as stale and replaces it.
  auto cp = ShmRegion::CreateOrAttach(n.name, 1, &err);
  ASSERT_NE(cp, nullptr) << err;
  EXPECT_NE(ShmRegion::Attach(n.name, &err), nullptr) << err;
}

TEST(ShmRegion, RejectsBadWorkerCount) {
  ScopedName n;
  std::string err;
  EXPECT_EQ(ShmRegion::CreateOrAttach(n.name, 0, &err), nullptr);
  EXPECT_NE(err.find("n_workers"), std::string::npos);
  EXPECT_EQ(ShmRegion::CreateOrAttach(n.name, kMaxWorkers + 1, &err), nullptr);
}

TEST(ShmRegionValidate, AcceptsValidImage) {
  size_t region_size = 0;
  auto img = ValidHeaderImage(4, &region_size);
  img.resize(region_size);
  RegionLayout l{};
  EXPECT_EQ(ShmRegion::Validate(img.data(), img.size(), &l), "");
  EXPECT_EQ(l.n_workers, 4u);
  EXPECT_EQ(l.region_size, region_size);
  // Unaligned copy of the same bytes.
  std::vector<uint8_t> shifted(img.size() + 1);
  std::memcpy(shifted.data() + 1, img.data(), img.size());
  EXPECT_EQ(ShmRegion::Validate(shifted.data() + 1, img.size(), nullptr), "");
}

TEST(ShmRegionValidate, RejectsEachBadField) {
  struct Case {
    const char* field;  // must appear in the error
    size_t offset;
    uint64_t value;
    size_t width;
  };
  const RegionLayout l = ComputeLayout(2);
  const Case cases[] = {
      {"magic", offsetof(RegionHeader, magic), kMagic ^ 1, 8},
      {"layout_version", offsetof(RegionHeader, layout_version), kLayoutVersion + 1, 4},
      {"n_workers", offsetof(RegionHeader, n_workers), 0, 4},
      {"n_workers", offsetof(RegionHeader, n_workers), kMaxWorkers + 1, 4},
      {"region_size", offsetof(RegionHeader, region_size), l.region_size + 4096, 8},
      {"generation_offset", offsetof(RegionHeader, generation_offset), 0, 8},
      {"generation_stride", offsetof(RegionHeader, generation_stride), 4096, 8},
      {"rings_offset", offsetof(RegionHeader, rings_offset), l.rings_offset - 8, 8},
      {"ring_stride", offsetof(RegionHeader, ring_stride), ~0ull, 8},
      {"counters_offset", offsetof(RegionHeader, counters_offset), 1, 8},
      {"counters_stride", offsetof(RegionHeader, counters_stride), 0, 8},
  };
  size_t region_size = 0;
  for (const Case& c : cases) {
    auto img = ValidHeaderImage(2, &region_size);
    img.resize(region_size);
    std::memcpy(img.data() + c.offset, &c.value, c.width);
    RegionLayout out{};
    out.n_workers = 99;
    const std::string err = ShmRegion::Validate(img.data(), img.size(), &out);
    EXPECT_NE(err.find(c.field), std::string::npos) << c.field << ": got '" << err << "'";
    EXPECT_EQ(out.n_workers, 99u) << "layout_out written on failure";
  }
}

TEST(ShmRegionValidate, RejectsShortInputs) {
  size_t region_size = 0;
  auto img = ValidHeaderImage(1, &region_size);
  EXPECT_NE(ShmRegion::Validate(img.data(), sizeof(RegionHeader) - 1, nullptr).find("too small"),
            std::string::npos);
  EXPECT_NE(ShmRegion::Validate(nullptr, 0, nullptr), "");
  // A valid header whose mapping is shorter than the region it describes.
  EXPECT_NE(ShmRegion::Validate(img.data(), img.size(), nullptr).find("exceeds mapped size"),
            std::string::npos);
}

TEST(ShmRegion, RecreatesOnLayoutChangeWithoutDataplane) {
  for (const int32_t pid : {0, DeadPid()}) {
    ScopedName n;
    std::string err;
    auto old_region = ShmRegion::CreateOrAttach(n.name, 2, &err);
    ASSERT_NE(old_region, nullptr) << err;
    old_region->header().dp_pid.store(pid);
    old_region->generation(0)->hdr.seq = 5;
    auto r = ShmRegion::CreateOrAttach(n.name, 4, &err);
    ASSERT_NE(r, nullptr) << "dp_pid " << pid << ": " << err;
    EXPECT_EQ(r->layout().n_workers, 4u);
    EXPECT_EQ(r->generation(0)->hdr.seq, 0u) << "not a fresh region";
    auto dp = ShmRegion::Attach(n.name, &err);
    ASSERT_NE(dp, nullptr) << err;
    EXPECT_EQ(dp->layout().n_workers, 4u);
  }
}

TEST(ShmRegion, RecreatesGarbageHeaderWithoutDataplane) {
  ScopedName n;
  std::string err;
  auto old_region = ShmRegion::CreateOrAttach(n.name, 1, &err);
  ASSERT_NE(old_region, nullptr) << err;
  old_region->header().counters_stride = 12;
  auto r = ShmRegion::CreateOrAttach(n.name, 1, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->header().counters_stride, ComputeLayout(1).counters_stride);
}

TEST(ShmRegion, RefusesLayoutChangeUnderLiveDataplane) {
  ScopedName n;
  std::string err;
  auto old_region = ShmRegion::CreateOrAttach(n.name, 2, &err);
  ASSERT_NE(old_region, nullptr) << err;
  old_region->header().dp_pid.store(getpid());
  EXPECT_EQ(ShmRegion::CreateOrAttach(n.name, 3, &err), nullptr);
  EXPECT_NE(err.find("in use by dataplane pid " + std::to_string(getpid())), std::string::npos)
      << err;
  // The live dataplane's region is untouched and still attachable with its own layout.
  auto again = ShmRegion::CreateOrAttach(n.name, 2, &err);
  ASSERT_NE(again, nullptr) << err;
  EXPECT_EQ(again->header().dp_pid.load(), getpid());
}

TEST(ShmRegion, ConcurrentCreatorsAgree) {
  ScopedName n;
  constexpr int kProcs = 4;
  pid_t pids[kProcs];
  for (pid_t& pid : pids) {
    pid = fork();
    if (pid == 0) {
      std::string err;
      auto r = ShmRegion::CreateOrAttach(n.name, 2, &err);
      _exit(r != nullptr && r->layout().n_workers == 2 ? 0 : 1);
    }
  }
  for (pid_t pid : pids) {
    int status = -1;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::string err;
  EXPECT_NE(ShmRegion::Attach(n.name, &err), nullptr) << err;
}

TEST(ShmRegion, RingAndCounterAddressesInRange) {
  ScopedName n;
  std::string err;
  constexpr uint32_t kWorkers = 3;
  auto r = ShmRegion::CreateOrAttach(n.name, kWorkers, &err);
  ASSERT_NE(r, nullptr) << err;
  const uint8_t* lo = r->base();
  const uint8_t* hi = r->base() + r->size();
  auto in_range = [&](const void* p, size_t len) {
    auto* b = static_cast<const uint8_t*>(p);
    return b >= lo && b + len <= hi;
  };
  std::vector<std::pair<const uint8_t*, size_t>> blocks;
  for (uint32_t s = 0; s < kNumGenerations; ++s) {
    const Generation* g = r->generation(s);
    EXPECT_TRUE(in_range(g, sizeof(Generation)));
    EXPECT_GE(reinterpret_cast<const uint8_t*>(g), lo + sizeof(RegionHeader));
    blocks.push_back({reinterpret_cast<const uint8_t*>(g), sizeof(Generation)});
  }
  for (uint32_t w = 0; w < kWorkers; ++w) {
    for (uint32_t ring : {kPuntRing, kInjectRing}) {
      const uint8_t* start = r->base() + RingOffset(r->layout(), w, ring);
      const size_t len = sizeof(SpscRingShared) + size_t{kRingSlots} * kRingSlotSize;
      EXPECT_TRUE(in_range(start, len));
      blocks.push_back({start, len});
      // Use the ring through both processes' views: the payload crosses the mapping.
      SpscRingView prod = r->ring(w, ring);
      SpscRingView cons = r->ring(w, ring);
      ASSERT_TRUE(prod.valid());
      EXPECT_EQ(prod.capacity(), kRingSlots);
      const uint8_t payload[3] = {uint8_t(w), uint8_t(ring), 9};
      RingSlotHeader meta{};
      for (uint32_t i = 0; i < kRingSlots; ++i) ASSERT_TRUE(prod.TryPush(meta, payload));
      EXPECT_FALSE(prod.TryPush(meta, payload));
      SpscRingView::Entry e;
      ASSERT_TRUE(cons.Peek(e));
      ASSERT_EQ(e.payload.size(), 3u);
      EXPECT_EQ(e.payload[0], w);
      EXPECT_EQ(e.payload[1], ring);
    }
    WorkerCounters& c = r->counters(w);
    EXPECT_TRUE(in_range(&c, sizeof(WorkerCounters)));
    blocks.push_back({reinterpret_cast<const uint8_t*>(&c), sizeof(WorkerCounters)});
  }
  std::sort(blocks.begin(), blocks.end());
  for (size_t i = 1; i < blocks.size(); ++i)
    EXPECT_LE(blocks[i - 1].first + blocks[i - 1].second, blocks[i].first) << "overlap at " << i;
}

TEST(ShmRegion, UnlinkIgnoresMissing) {
  ScopedName n;
  ShmRegion::Unlink(n.name);
  ShmRegion::Unlink(n.name);
  std::string err;
  EXPECT_EQ(ShmRegion::Attach(n.name, &err), nullptr);
}

TEST(ShmRegion, MonotonicNsAdvances) {
  const uint64_t a = MonotonicNs();
  usleep(1000);
  EXPECT_GE(MonotonicNs() - a, 1'000'000u);
}

// ---- Ownership: /dev/shm is writable by every local user, and the region holds session keys ----

std::string ShmPath(const std::string& name) {
  return "/dev/shm" + name;
}

constexpr uid_t kNobody = 65534;

// Runs `fn` in a child that has become uid/gid 65534 (nobody), as an unprivileged local user.
// True when fn returned true there.
bool AsNobody(const std::function<bool()>& fn) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
        setresuid(kNobody, kNobody, kNobody) != 0)
      _exit(2);
    _exit(fn() ? 0 : 1);
  }
  int status = -1;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool Chmod(const std::string& name, mode_t mode) {
  const int fd = shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  const bool ok = fchmod(fd, mode) == 0;
  close(fd);
  return ok;
}

// Both entry points refuse `name` as not ours, say so with the path and `detail`, and flag it as
// not worth retrying.
void ExpectRefused(const std::string& name, const std::string& detail) {
  std::string err;
  bool refused = false;
  EXPECT_EQ(ShmRegion::CreateOrAttach(name, 1, &err, &refused), nullptr);
  EXPECT_TRUE(refused) << err;
  EXPECT_NE(err.find(ShmPath(name)), std::string::npos) << err;
  EXPECT_NE(err.find(detail), std::string::npos) << err;
  err.clear();
  refused = false;
  EXPECT_EQ(ShmRegion::Attach(name, &err, &refused), nullptr);
  EXPECT_TRUE(refused) << err;
  EXPECT_NE(err.find(detail), std::string::npos) << err;
  EXPECT_NE(err.find("rm " + ShmPath(name)), std::string::npos) << "no fix named: " << err;
}

TEST(ShmRegionOwnership, RefusesARegionAnotherUserCreated) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as a second user (CI runs as root)";
  // A complete, valid region: before the ownership check both processes adopted it as is, and
  // its creator could read every session key published into it.
  for (const mode_t mode : {mode_t{0600}, mode_t{0666}}) {
    ScopedName n;
    ASSERT_TRUE(AsNobody([&] {
      std::string err;
      auto r = ShmRegion::CreateOrAttach(n.name, 1, &err);
      if (r) r->generation(0)->hdr.seq = 4242;
      return r != nullptr && Chmod(n.name, mode);
    }));
    struct stat before {};
    ASSERT_EQ(stat(ShmPath(n.name).c_str(), &before), 0);
    ASSERT_EQ(before.st_uid, kNobody);

    char mode_text[8];
    std::snprintf(mode_text, sizeof(mode_text), "%04o", unsigned(mode));
    ExpectRefused(n.name, "owned by uid 65534 with mode " + std::string(mode_text));

    // Nothing was done to it: still theirs, same mode, and not unlinked (by the stale-object
    // recovery nor by the supervisor's cleanup), so the operator can see who planted it.
    EXPECT_NE(ShmRegion::UnlinkOwn(n.name).find("not created by this node"), std::string::npos);
    struct stat after {};
    ASSERT_EQ(stat(ShmPath(n.name).c_str(), &after), 0);
    EXPECT_EQ(after.st_uid, kNobody);
    EXPECT_EQ(after.st_mode, before.st_mode);
    EXPECT_EQ(after.st_ino, before.st_ino);
  }
}

TEST(ShmRegionOwnership, RefusesOwnObjectUnlessModeIsExactly0600) {
  ScopedName n;
  std::string err;
  {
    auto r = ShmRegion::CreateOrAttach(n.name, 1, &err);
    ASSERT_NE(r, nullptr) << err;
    r->generation(0)->hdr.seq = 77;
  }
  for (const mode_t mode : {0666, 0644, 0640, 0604, 0660, 0620, 0602, 0610, 0700, 0400, 01600}) {
    ASSERT_TRUE(Chmod(n.name, mode));
    char mode_text[8];
    std::snprintf(mode_text, sizeof(mode_text), "%04o", unsigned(mode));
    SCOPED_TRACE(mode_text);
    ExpectRefused(n.name, std::string("with mode ") + mode_text);
  }
  // Back to 0600 it is this node's own region again: both processes attach, contents intact.
  ASSERT_TRUE(Chmod(n.name, 0600));
  bool refused = true;
  auto cp = ShmRegion::CreateOrAttach(n.name, 1, &err, &refused);
  ASSERT_NE(cp, nullptr) << err;
  EXPECT_FALSE(refused);
  EXPECT_EQ(cp->generation(0)->hdr.seq, 77u);
  refused = true;
  auto dp = ShmRegion::Attach(n.name, &err, &refused);
  ASSERT_NE(dp, nullptr) << err;
  EXPECT_FALSE(refused);
  EXPECT_EQ(ShmRegion::UnlinkOwn(n.name), "");
  EXPECT_NE(access(ShmPath(n.name).c_str(), F_OK), 0) << "own region not unlinked";
}

TEST(ShmRegionOwnership, CreatesMode0600UnderAnyUmask) {
  for (const mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0277}, mode_t{0777}}) {
    ScopedName n;
    const mode_t old = umask(mask);
    std::string err;
    auto r = ShmRegion::CreateOrAttach(n.name, 1, &err);
    umask(old);
    ASSERT_NE(r, nullptr) << "umask " << mask << ": " << err;
    struct stat st {};
    ASSERT_EQ(stat(ShmPath(n.name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << "umask " << std::oct << mask;
    EXPECT_EQ(st.st_uid, geteuid());
    // ... so the dataplane (and a restarted control plane) accept it.
    EXPECT_NE(ShmRegion::Attach(n.name, &err), nullptr) << err;
  }
}

TEST(ShmRegionOwnership, RefusesFifoSymlinkAndHardLink) {
  ScopedName target;
  std::string err;
  auto own = ShmRegion::CreateOrAttach(target.name, 1, &err);
  ASSERT_NE(own, nullptr) << err;

  ScopedName fifo;
  ASSERT_EQ(mkfifo(ShmPath(fifo.name).c_str(), 0600), 0);
  ExpectRefused(fifo.name, "is a fifo");

  // A symlink to a region that passes every check itself: only not following it refuses.
  ScopedName link;
  ASSERT_EQ(symlink(ShmPath(target.name).c_str(), ShmPath(link.name).c_str()), 0);
  ExpectRefused(link.name, "symbolic link");

  // A second name for another node's region would hand that region to this node.
  ScopedName hard;
  ASSERT_EQ(::link(ShmPath(target.name).c_str(), ShmPath(hard.name).c_str()), 0);
  ExpectRefused(hard.name, "has 2 names");
}

}  // namespace
}  // namespace ipop::shm
