// The EAL command line a DPDK node starts with (dataplane/dpdk_eal_args.h): what it adds for the
// user, what it leaves to them, and the errors it reports before EAL ever runs. No DPDK needed.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/dpdk_eal_args.h"
#include "shared/config.h"

namespace ipop::dp {
namespace {

const std::string kSecret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

NodeConfig Config(const std::string& dataplane_lines, uint32_t workers = 1) {
  const std::string text =
      "[node]\nname = gw1\nvip = 10.77.0.1/24\ntap = ov0\nworkers = " + std::to_string(workers) +
      "\nlisten = 192.0.2.10:5800\n[network]\nname = lab\nsecret = " + kSecret +
      "\n[dataplane]\nbackend = dpdk\n" + dataplane_lines;
  const ConfigResult r = ParseConfigText(text);
  EXPECT_TRUE(r.config) << r.error;
  return r.config ? *r.config : NodeConfig{};
}

EalHost Host(uint32_t hugepages = 0) {
  EalHost h;
  h.free_hugepages = hugepages;
  h.cpus = "0-1";
  return h;
}

bool HasArg(const EalPlan& p, const std::string& a) {
  return std::find(p.args.begin(), p.args.end(), a) != p.args.end();
}

TEST(DpdkEalArgs, AVdevUnderlayWithTheDefaults) {
  EalPlan p;
  std::string error;
  ASSERT_TRUE(PlanEal(Config("underlay-port = net_af_xdp0,iface=u0\n"), Host(), &p, &error))
      << error;
  EXPECT_EQ(p.underlay_name, "net_af_xdp0");
  EXPECT_TRUE(HasArg(p, "--vdev=net_af_xdp0,iface=u0"));
  EXPECT_TRUE(HasArg(p, "--file-prefix=ipop-gw1")) << "a runtime directory per node";
  EXPECT_TRUE(HasArg(p, "--no-pci")) << "never probe NICs nobody named";
  EXPECT_TRUE(HasArg(p, "--vdev=net_tap_ipop,iface=ov0")) << "the host TAP is node.tap";
  EXPECT_TRUE(p.host_is_tap);
  EXPECT_EQ(p.host_tap_iface, "ov0");
  EXPECT_EQ(p.host_name, "net_tap_ipop");
  EXPECT_TRUE(HasArg(p, "--lcores=(0-1)@(0-1)")) << "a main lcore and one per worker";
  EXPECT_TRUE(HasArg(p, "--no-huge")) << "no hugepages reserved";
  EXPECT_TRUE(HasArg(p, "-m"));
  EXPECT_FALSE(HasArg(p, "--in-memory")) << "EAL refuses --in-memory with --no-huge";
  EXPECT_TRUE(HasArg(p, "--log-level=notice"));
}

TEST(DpdkEalArgs, HugepagesWhenReservedAndMemoryScalesWithWorkers) {
  EalPlan p;
  std::string error;
  ASSERT_TRUE(PlanEal(Config("underlay-port = net_af_xdp0,iface=u0\n"), Host(512), &p, &error));
  EXPECT_TRUE(HasArg(p, "--in-memory")) << "nothing left in hugetlbfs after a crash";
  EXPECT_FALSE(HasArg(p, "--no-huge"));
  EalPlan one, four;
  ASSERT_TRUE(PlanEal(Config("underlay-port = net_af_packet0,iface=u0,qpairs=4\n", 1), Host(), &one,
                      &error));
  ASSERT_TRUE(PlanEal(Config("underlay-port = net_af_packet0,iface=u0,qpairs=4\n", 4), Host(),
                      &four, &error));
  const auto mem = [](const EalPlan& e) {
    const auto it = std::find(e.args.begin(), e.args.end(), "-m");
    return it == e.args.end() || it + 1 == e.args.end() ? 0 : std::stoi(*(it + 1));
  };
  EXPECT_GT(mem(four), mem(one));
  EXPECT_GE(uint64_t(mem(one)) << 20, uint64_t{MbufCount(1)} * MbufDataRoom(1400));
  EXPECT_TRUE(HasArg(four, "--lcores=(0-4)@(0-1)"));
  EXPECT_GE(MbufDataRoom(9000), 128u + 14 + 20 + 8 + 24 + 16 + 9000 + 16);
}

TEST(DpdkEalArgs, APciUnderlayIsAllowedByAddressAndTheUsersChoicesWin) {
  EalPlan p;
  std::string error;
  ASSERT_TRUE(PlanEal(Config("underlay-port = 0000:03:00.0\nhost-port = none\n"
                             "eal-args = -l 2-3 --file-prefix=gw -m 1024 --log-level=debug\n"),
                      Host(), &p, &error))
      << error;
  EXPECT_EQ(p.underlay_name, "0000:03:00.0");
  const auto a = std::find(p.args.begin(), p.args.end(), "-a");
  ASSERT_NE(a, p.args.end());
  EXPECT_EQ(*(a + 1), "0000:03:00.0");
  EXPECT_FALSE(HasArg(p, "--no-pci"));
  EXPECT_TRUE(p.host_name.empty()) << "headless";
  EXPECT_FALSE(HasArg(p, "--file-prefix=ipop-gw1"));
  EXPECT_FALSE(HasArg(p, "--no-huge")) << "-m given: memory is the user's";
  EXPECT_FALSE(HasArg(p, "--log-level=notice"));
  for (const std::string& arg : p.args) EXPECT_NE(arg.rfind("--lcores", 0), 0u) << arg;
  EalPlan s;
  ASSERT_TRUE(PlanEal(Config("underlay-port = 03:00.1\n"), Host(), &s, &error));
  EXPECT_EQ(s.underlay_name, "0000:03:00.1");
  EalPlan allowed;
  ASSERT_TRUE(PlanEal(Config("underlay-port = net_af_xdp0,iface=u0\neal-args = -a 0000:05:00.0\n"),
                      Host(), &allowed, &error));
  EXPECT_FALSE(HasArg(allowed, "--no-pci")) << "the user allowed a PCI device";
}

TEST(DpdkEalArgs, HostPortVariants) {
  std::string error;
  EalPlan v;
  ASSERT_TRUE(
      PlanEal(Config("underlay-port = net_af_xdp0,iface=u0\nhost-port = vhost:/run/vm.sock\n", 2),
              Host(), &v, &error));
  EXPECT_TRUE(v.host_is_vhost);
  EXPECT_TRUE(HasArg(v, "--vdev=net_vhost_ipop,iface=/run/vm.sock,queues=2"))
      << "a queue per worker";
  EalPlan t;
  ASSERT_TRUE(PlanEal(Config("underlay-port = net_af_xdp0,iface=u0\n"
                             "host-port = net_tap7,iface=hosttap,persist\n"),
                      Host(), &t, &error));
  EXPECT_TRUE(t.host_is_tap);
  EXPECT_EQ(t.host_tap_iface, "hosttap");
  EXPECT_EQ(t.host_name, "net_tap7");
}

TEST(DpdkEalArgs, ErrorsBeforeEal) {
  struct Case {
    const char* what;
    std::string lines;
    const char* detail;
  };
  const Case cases[] = {
      {"underlay neither PCI nor vdev", "underlay-port = eth1\n", "neither a PCI address"},
      {"host and underlay the same device",
       "underlay-port = net_tap0,iface=x\nhost-port = net_tap0,iface=y\n", "the same device"},
      {"TAP devargs without iface", "underlay-port = net_af_xdp0,iface=u0\nhost-port = net_tap3\n",
       "names no iface="},
      {"a quoted EAL argument",
       "underlay-port = net_af_xdp0,iface=u0\neal-args = --vdev='net_ring0'\n", "quote"},
  };
  for (const Case& c : cases) {
    EalPlan p;
    std::string error;
    EXPECT_FALSE(PlanEal(Config(c.lines), Host(), &p, &error)) << c.what;
    EXPECT_NE(error.find(c.detail), std::string::npos) << c.what << ": " << error;
  }
}

TEST(DpdkEalArgs, CpuSetsAreWrittenAsRanges) {
  EXPECT_EQ(FormatCpuSet({0}), "0");
  EXPECT_EQ(FormatCpuSet({0, 1, 2, 3}), "0-3");
  EXPECT_EQ(FormatCpuSet({0, 2, 3, 7}), "0,2-3,7");
}

}  // namespace
}  // namespace ipop::dp
