// AES-256-GCM through intel-ipsec-mb's direct GCM API: the backend AeadContext switches to for
// AES-256-GCM when the library is built in and passes its known-answer self-test on this CPU.
// Internal to AeadContext (and its benchmark); everything degrades to "unavailable" when the
// build has no intel-ipsec-mb.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ipop::ipsecmb {

// Expanded key plus the per-CPU routines picked by the library; opaque outside the .cc so that
// intel-ipsec-mb.h stays out of every other translation unit.
struct GcmKey;

// True when the build links intel-ipsec-mb (whether or not it works on this CPU).
bool Built();
// Built() and the published AES-256-GCM vector seals and opens correctly; computed once.
bool Usable();
// Code path the library picked for this CPU ("avx512", "avx2", "sse", ...), or "none".
const char* ArchName();
// Library version string, or "none".
const char* Version();

// Allocate/free an expanded key (never on the data path: once per context).
GcmKey* NewKey();
void FreeKey(GcmKey* key);
// Expands a 32-byte key through the calling thread's IMB_MGR. false if !Usable().
bool SetKey(GcmKey* key, const uint8_t raw[32]);

// One packet; in and out may alias. iv is 12 bytes, tag 16.
void Seal(const GcmKey& key, const uint8_t* iv, const uint8_t* aad, size_t aad_len,
          const uint8_t* in, size_t len, uint8_t* out, uint8_t* tag);
// Decrypts, then compares tags in constant time; on mismatch wipes out and returns false.
bool Open(const GcmKey& key, const uint8_t* iv, const uint8_t* aad, size_t aad_len,
          const uint8_t* in, size_t len, uint8_t* out, const uint8_t* tag);

}  // namespace ipop::ipsecmb
