#include <gtest/gtest.h>

TEST(Pending, shm_region) { GTEST_SKIP() << "not written yet"; }
