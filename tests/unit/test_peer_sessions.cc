#include <gtest/gtest.h>

TEST(Pending, peer_sessions) { GTEST_SKIP() << "not written yet"; }
