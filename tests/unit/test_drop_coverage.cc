// Every dataplane drop reason (shared/counters.h) has a unit test that provokes it and asserts its
// counter. The table below names that test for each reason, in the enum's order; this test fails
// when a reason is added without an entry, and when a named test no longer exists or no longer
// mentions its reason (it reads the test sources, IPOP_SOURCE_ROOT is set by meson).
#include <array>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "shared/counters.h"

namespace ipop {
namespace {

struct Coverage {
  const char* reason;
  const char* file;  // under tests/unit/
  const char* test;  // "Suite, Name" as written in TEST/TEST_F
};

constexpr Coverage kCoverage[] = {
    {"tap_short_frame", "test_dataplane_stages.cc",
     "DataplaneStagesTest, EachOutboundDropBumpsExactlyItsCounter"},
    {"tap_bad_ipv4", "test_dataplane_stages.cc",
     "DataplaneStagesTest, EachOutboundDropBumpsExactlyItsCounter"},
    {"tap_unsupported_ethertype", "test_dataplane_stages.cc",
     "DataplaneStagesTest, EachOutboundDropBumpsExactlyItsCounter"},
    {"mcast_no_group", "test_dataplane_stages.cc",
     "DataplaneStagesTest, EachOutboundDropBumpsExactlyItsCounter"},
    {"mcast_no_members", "test_fanout.cc",
     "FanOutTest, EntryWithoutMembersOrBadIndexDropsAndStillCountsTheGroup"},
    {"mcast_fanout_cut", "test_fanout.cc", "FanOutTest, CopiesBeyondBuffersOrRoomAreCutAndCounted"},
    {"no_route", "test_dataplane_stages.cc",
     "DataplaneStagesTest, EachOutboundDropBumpsExactlyItsCounter"},
    {"peer_not_ready", "test_dataplane_stages.cc",
     "DataplaneStagesTest, EachOutboundDropBumpsExactlyItsCounter"},
    {"stale_key", "test_dataplane_stages.cc",
     "DataplaneStagesTest, EachOutboundDropBumpsExactlyItsCounter"},
    {"too_big", "test_dataplane_stages.cc",
     "DataplaneStagesTest, EachOutboundDropBumpsExactlyItsCounter"},
    {"seal_failed", "test_dataplane_stages.cc", "DataplaneStagesTest, SealFailuresAreCounted"},
    {"udp_send_failed", "test_worker_drops.cc",
     "WorkerDropsTest, UnsendableUnderlayDatagramsAreCounted"},
    {"udp_short", "test_dataplane_stages.cc", "InboundDropTest, WireHeaderErrors"},
    {"udp_bad_version", "test_dataplane_stages.cc", "InboundDropTest, WireHeaderErrors"},
    {"udp_bad_type", "test_dataplane_stages.cc", "InboundDropTest, WireHeaderErrors"},
    {"udp_bad_reserved", "test_dataplane_stages.cc", "InboundDropTest, WireHeaderErrors"},
    {"unknown_session", "test_dataplane_stages.cc", "InboundDropTest, UnknownSession"},
    {"replay", "test_dataplane_stages.cc", "InboundDropTest, ReplayedDatagramIsDroppedOnce"},
    {"auth_failed", "test_dataplane_stages.cc",
     "InboundDropTest, TamperedDatagramFailsAuthentication"},
    {"inner_bad_ipv4", "test_dataplane_stages.cc", "InboundDropTest, SealedGarbageIsNotIpv4"},
    {"src_not_allowed", "test_dataplane_stages.cc",
     "InboundDropTest, SpoofedInnerSourceIsNotAllowed"},
    {"tap_write_failed", "test_worker_drops.cc", "WorkerDropsTest, FailedTapWriteIsCounted"},
    {"punt_ring_full", "test_dataplane_stages.cc", "PuntInject, PuntCountsFullRing"},
    {"punt_tap_limited", "test_source_limiter.cc",
     "PuntBudget, TheHostsFramesHaveABudgetTheUnderlayCannotSpend"},
    {"punt_ring_reserved", "test_source_limiter.cc",
     "PuntBudget, UnderlayDatagramsLeaveTheLastQuarterOfTheRingToTheHost"},
    {"punt_source_limited", "test_dataplane_stages.cc",
     "DataplaneStagesTest, AControlFloodFromOneHostIsPuntedUpToItsBudgetTapFramesStillGo"},
    {"punt_untracked_limited", "test_source_limiter.cc",
     "PuntBudget, UntrackedUnderlaySourcesShareOneBudget"},
    {"punt_underlay_limited", "test_source_limiter.cc",
     "PuntBudget, ManySourcesTogetherMeetTheWorkersBudget"},
    {"inject_bad_entry", "test_worker_drops.cc",
     "WorkerDropsTest, MalformedInjectEntryIsSkippedAndCounted"},
    {"ring_corrupt", "test_worker_drops.cc", "WorkerDropsTest, CorruptInjectRingIsResetAndCounted"},
    {"table_invalid", "test_worker_drops.cc",
     "WorkerDropsTest, InvalidTableGenerationIsCountedAndNotAdopted"},
    {"buffer_exhausted", "test_tap_offload.cc", "SplitTapReads, DropsWhatItCannotHandle"},
    {"relay_malformed", "test_relay.cc", "RelayTest, MalformedRelayDatagramsAreDroppedNeverPunted"},
    {"relay_no_route", "test_relay.cc", "RelayTest, RelayForwardsToTheClosestLinkOrDrops"},
    {"relay_hop_limit", "test_relay.cc", "RelayTest, RelayIncrementsHopsUpToTheLimit"},
    {"relay_source_limited", "test_relay.cc",
     "RelayTest, RelayForwardingIsBoundedPerSourceAddress"},
    {"relay_untracked_limited", "test_relay.cc", "RelayTest, UntrackedRelaySourcesShareOneBudget"},
    {"handoff_failed", "test_worker_drops.cc",
     "WorkerDropsTest, DatagramTooBigForTheOwnersRingIsCounted"},
    {"underlay_bad_frame", "test_underlay_stack.cc",
     "UnderlayStackTest, BadChecksumsAndLengthsAreDroppedAsBadFrames"},
    {"underlay_not_ours", "test_underlay_stack.cc",
     "UnderlayStackTest, FragmentsAndOtherTrafficGoToTheKernelOrAreCounted"},
    {"underlay_fragment", "test_underlay_stack.cc",
     "UnderlayStackTest, FragmentsAndOtherTrafficGoToTheKernelOrAreCounted"},
    {"underlay_no_neighbour", "test_underlay_stack.cc",
     "UnderlayStackTest, UnknownNextHopsAreDroppedAndAskedForOnce"},
    {"underlay_unreachable", "test_underlay_stack.cc",
     "UnderlayStackTest, OffLinkDestinationsGoThroughTheGatewayOrTheLearnedRouter"},
    {"port_tx_full", "test_dpdk_ports.cc",
     "DpdkSmallRingTest, AFullTransmitQueueIsCountedNothingLeaks"},
    {"fw_inbound_denied", "test_firewall.cc", "FirewallStagesTest, InboundDeniedIsCountedPerRule"},
    {"fw_outbound_denied", "test_firewall.cc",
     "FirewallStagesTest, OutboundDeniedIsCountedAndRepliesToOutboundFlowsPass"},
};

TEST(DropCoverage, EveryReasonHasAnEntryInOrder) {
  ASSERT_EQ(std::size(kCoverage), size_t{kNumDropReasons})
      << "a drop reason was added or removed: give it a test and an entry here";
  for (uint32_t r = 0; r < kNumDropReasons; ++r)
    EXPECT_STREQ(kCoverage[r].reason, kDropReasonNames[r]) << "entry " << r;
}

// The body of the test declared as TEST...(suite_and_name): from its declaration to the next
// top-level TEST (or the end of the file). Empty if there is no such test.
std::string BodyOfTest(const std::string& source, std::string_view suite_and_name) {
  for (const char* macro : {"TEST(", "TEST_F(", "TEST_P("}) {
    const std::string decl = std::string(macro) + std::string(suite_and_name) + ")";
    const size_t at = source.find(decl);
    if (at == std::string::npos) continue;
    const size_t end = source.find("\nTEST", at + decl.size());
    return source.substr(at, end == std::string::npos ? std::string::npos : end - at);
  }
  return {};
}

TEST(DropCoverage, EachNamedTestExistsAndAssertsItsReason) {
  for (const Coverage& c : kCoverage) {
    const std::string path = std::string(IPOP_SOURCE_ROOT) + "/tests/unit/" + c.file;
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot read " << path;
    std::stringstream text;
    text << in.rdbuf();
    const std::string body = BodyOfTest(text.str(), c.test);
    ASSERT_FALSE(body.empty()) << c.reason << ": no test " << c.test << " in " << c.file;
    const std::string mention = std::string("DropReason::") + c.reason;
    // Followed by a character that cannot continue the name (tap_bad_ipv4 vs tap_bad_ipv4x).
    bool found = false;
    for (size_t at = body.find(mention); at != std::string::npos && !found;
         at = body.find(mention, at + 1)) {
      const char next = at + mention.size() < body.size() ? body[at + mention.size()] : ' ';
      found = !(std::isalnum(static_cast<unsigned char>(next)) || next == '_');
    }
    EXPECT_TRUE(found) << c.test << " (" << c.file << ") does not mention " << mention;
  }
}

}  // namespace
}  // namespace ipop
