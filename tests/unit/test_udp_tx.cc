// The underlay sender (dataplane/udp_tx.h) against a real socket pair on loopback: GSO batches
// arrive as the datagrams they were made of, and with zero-copy sends a batch's buffers are
// handed back only at the kernel's notification, never at the first completion.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/udp_socket.h"
#include "dataplane/udp_tx.h"
#include "dataplane/uring_io.h"
#include "shared/endpoint.h"
#include "tests/unit/kernel_version.h"

namespace ipop::dp {
namespace {

class UdpTxTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string error;
    tx_ = UdpSocket::Bind(*ParseEndpoint("127.0.0.1:0"), &error);
    ASSERT_TRUE(tx_) << error;
    rx_ = UdpSocket::Bind(*ParseEndpoint("127.0.0.1:0"), &error);
    ASSERT_TRUE(rx_) << error;
    ASSERT_TRUE(io_.Init(64, 128, rx_->fd(), tx_->fd(), &error)) << error;  // kUdpSlot = tx
    dst_ = *ParseEndpoint("127.0.0.1:" + std::to_string(rx_->local_port()));
  }

  // Reaps completions until `want` buffers came back (or 5 s passed); returns them.
  std::multiset<uint32_t> Reap(UdpSender& sender, size_t want, uint32_t* sent, int* notifs) {
    std::multiset<uint32_t> returned;
    for (int i = 0; i < 100 && returned.size() < want; ++i) {
      io_.Wait(50);
      io_uring_cqe* cqes[16];
      const unsigned n = io_.Peek(cqes, 16);
      for (unsigned k = 0; k < n; ++k) {
        const io_uring_cqe& c = *cqes[k];
        if (c.flags & IORING_CQE_F_NOTIF) ++*notifs;
        uint32_t s = 0, f = 0;
        sender.Complete(BufOf(c.user_data), c.res, c.flags, &s, &f, [&](uint32_t buf) {
          // The kernel still holds a zero-copy batch's pages until the notification.
          EXPECT_EQ(c.flags & IORING_CQE_F_MORE, 0u) << "buffer " << buf << " returned too early";
          returned.insert(buf);
        });
        EXPECT_EQ(f, 0u) << "send failed: " << c.res;
        *sent += s;
      }
      io_.Advance(n);
    }
    return returned;
  }

  std::unique_ptr<UdpSocket> tx_, rx_;
  UringIo io_;
  Endpoint dst_;
};

TEST_P(UdpTxTest, DatagramsArriveAndBuffersComeBackOnce) {
  const bool zero_copy = GetParam();
  // IORING_OP_SENDMSG_ZC came with Linux 6.1; from there on the sender must keep using it.
  if (zero_copy && !ipop::testing::KernelAtLeast(6, 1))
    GTEST_SKIP() << "kernel has no IORING_OP_SENDMSG_ZC (Linux < 6.1)";
  UdpSender sender(*tx_, 16, /*gso=*/true, zero_copy);
  std::vector<std::vector<uint8_t>> data(6);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i].assign(i + 1 < data.size() ? 1000 : 300, uint8_t(0x40 + i));  // last one shorter
    ASSERT_TRUE(sender.Add(io_, uint32_t(i), data[i].data(), uint32_t(data[i].size()), dst_.addr,
                           dst_.port));
  }
  sender.Flush(io_);
  uint32_t sent = 0;
  int notifs = 0;
  const std::multiset<uint32_t> returned = Reap(sender, data.size(), &sent, &notifs);
  EXPECT_EQ(returned, (std::multiset<uint32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(sent, data.size());
  EXPECT_EQ(sender.zero_copy(), zero_copy) << "the sender changed its send mode";
  if (zero_copy) {
    EXPECT_GE(notifs, 1) << "buffers returned before NOTIF";
  } else {
    EXPECT_EQ(notifs, 0);
  }

  for (size_t i = 0; i < data.size(); ++i) {
    pollfd p{rx_->fd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 2000), 1) << "datagram " << i << " missing";
    uint8_t got[2000];
    const ssize_t n = recv(rx_->fd(), got, sizeof(got), 0);
    ASSERT_EQ(n, ssize_t(data[i].size())) << "datagram " << i;
    EXPECT_EQ(std::memcmp(got, data[i].data(), data[i].size()), 0) << "datagram " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(CopyAndZeroCopy, UdpTxTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "ZeroCopy" : "Copy";
                         });

}  // namespace
}  // namespace ipop::dp
