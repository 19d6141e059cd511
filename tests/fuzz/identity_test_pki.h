// Written by tests/fuzz/make_identity_corpus.sh from identity_test_pki/ (test keys).
#pragma once
inline constexpr char kTestRootPem[] =
    "-----BEGIN IPOP CERTIFICATE-----\n"
    "AQEAAMOkJDh2+kTbdQByGzyG/IkAAAAAaVW5AAAAAADypSOA2KDJtSy/dZwUkJjy\n"
    "AY+uFgvQTz/lxofRv94nX+3DJ+L1ZmzYwzLJcSiaYgItd1gPB2Z1enpsYWIJZnV6\n"
    "ei1yb290AQpjAAAQAcCoAAAQAeAAAAAEAQEql0UySrHPNh2v/AYyJGXQq0pTHQlU\n"
    "CjdwqHKRoz0SJLtK3TNak7UPnNEMTetQTEw1uJf7iEF7DUhm5iWsO11AAA==\n"
    "-----END IPOP CERTIFICATE-----\n";
inline constexpr char kTestIssuingPem[] =
    "-----BEGIN IPOP CERTIFICATE-----\n"
    "AQIAACC671TJm0QrExN+bfYjO5wAAAAAaVW5AAAAAADht7EADtSWm1Y9/0Zxm66T\n"
    "dF6i9teETLQ8QelfnbFG+BsU86f1ZmzYwzLJcSiaYgItd1gPB2Z1enpsYWIJZnV6\n"
    "ei1zaXRlAQpjAQAYAcCoAAAQAeAAAAAEAgN3ZWICZGKdXxCBHIKbMEnRYSQkqGp6\n"
    "YyDZC3DR2V82lbcj4IOWkhRn5dbwKQKw6I+viDPhBrycVNJ5trxLjn9fVNB+ktAF\n"
    "-----END IPOP CERTIFICATE-----\n";
inline constexpr char kTestNodePem[] =
    "-----BEGIN IPOP CERTIFICATE-----\n"
    "AQMAADT3fLLl83wtJOEPZiTgE5oAAAAAaVW5AAAAAADO57mAdtEXUosk27JMbwB9\n"
    "T3GmDkkIB5JvzDEMn/aLKTLrOEzCsq6l9uRllPyALJMYdN3nB2Z1enpsYWIJZnV6\n"
    "ei1ub2RlAQpjAQcgAAABA3dlYugyclcz+KbSHFa2DCU6YYEfU3IrIYi3/ssQ4Ia2\n"
    "HA1d/db1qmxxpnutEPVjydye0MV+/9lUmPp8zBOBrQKRjg8=\n"
    "-----END IPOP CERTIFICATE-----\n";
