// IGMP frames captured with `tcpdump -w` on a veth in a scratch namespace while /usr/bin/python3
// joined and left groups on the other end (Linux 6.18; force_igmp_version 1, 2 and default 3):
// 239.1.2.3 (any source), 224.0.0.251 (mDNS) and 232.1.1.1 from source 10.99.0.9 (SSM), host
// 10.99.0.1. kQueryHex is the general query the node sends (built like igmp::BuildGeneralQuery);
// the host answered it with kV3CurrentStateHex. tests/fuzz/make_igmp_corpus.py reads this file.
#pragma once

namespace ipop::igmp_captures {

// v1 report for 239.1.2.3
inline constexpr const char* kV1ReportHex =
    "01005e010203e234e57f3846080046c00020000040000102e8af0a630001ef010203940400001200fcfaef010203";
// v2 report for 224.0.0.251
inline constexpr const char* kV2ReportHex =
    "01005e0000fbe234e57f3846080046c00020000040000102f8b80a630001e00000fb9404000016000904e00000fb";
// v2 leave for 239.1.2.3 (to 224.0.0.2)
inline constexpr const char* kV2LeaveHex =
    "01005e000002e234e57f3846080046c00020000040000102f9b10a630001e0000002940400001700f7faef010203";
// v3: 239.1.2.3 CHANGE_TO_EXCLUDE {} (join)
inline constexpr const char* kV3JoinHex =
    "01005e000016e234e57f3846080046c00028000040000102f9950a630001e0000016940400002200e8f900000001"
    "04000000ef010203";
// v3: 232.1.1.1 ALLOW {10.99.0.9} (source-specific join)
inline constexpr const char* kV3AllowHex =
    "01005e000016e234e57f3846080046c0002c000040000102f9910a630001e0000016940400002200e58e00000001"
    "05000001e80101010a630009";
// v3 answer to the query: 232.1.1.1 IS_IN {10.99.0.9}, 224.0.0.251 IS_EX {}, 239.1.2.3 IS_EX {}
inline constexpr const char* kV3CurrentStateHex =
    "01005e000016e234e57f3846080046c0003c000040000102f9810a630001e0000016940400002200138c00000003"
    "01000001e80101010a63000902000000e00000fb02000000ef010203";
// v3: 239.1.2.3 CHANGE_TO_INCLUDE {} (leave)
inline constexpr const char* kV3LeaveHex =
    "01005e000016e234e57f3846080046c00028000040000102f9950a630001e0000016940400002200e9f900000001"
    "03000000ef010203";
// v3: 224.0.0.251 TO_IN {} and 232.1.1.1 BLOCK {10.99.0.9}
inline constexpr const char* kV3LeaveBlockHex =
    "01005e000016e234e57f3846080046c00034000040000102f9890a630001e000001694040000220000920000000"
    "203000000e00000fb06000001e80101010a630009";
// v3 general query from 10.99.0.254 (02:00:00:aa:bb:cc), max response 2.0 s, QQIC 60
inline constexpr const char* kQueryHex =
    "01005e000001020000aabbcc080046c0002400000000010238b20a6300fee0000001940400001114ecaf00000000"
    "023c0000";

}  // namespace ipop::igmp_captures
