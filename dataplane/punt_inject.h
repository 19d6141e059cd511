// The two shared-memory rings between a worker and the control plane: punting packets the
// dataplane does not handle itself, and checking what the control plane asks it to send.
// No I/O here: the worker copies an accepted inject into a spare buffer and submits it.
#pragma once

#include <cstdint>

#include "dataplane/packet.h"
#include "dataplane/punt_budget.h"
#include "shared/shm_layout.h"
#include "shared/spsc_ring.h"

namespace ipop::dp {

// Copies the packet into the punt ring (kTapFrame: no address; kUnderlayControl: the datagram's
// source) if `budget` admits it at `now_ns`. Counts punted, or the drop: the budget's reason
// (punt_budget.h), or punt_ring_full when the control plane is slow or absent.
void Punt(SpscRingView& ring, const Packet& p, shm::PuntKind kind, uint32_t worker,
          shm::WorkerCounters& counters, PuntBudget& budget, uint64_t now_ns);

enum class InjectAction : uint8_t { kSendUnderlay, kWriteTap, kReject };

// Validates one inject entry: a known kind, a payload length that fits one datagram / one frame of
// at most `mtu` inner bytes, a non-zero port for underlay datagrams. The ring view already
// bounded the payload by the slot size.
InjectAction CheckInject(const SpscRingView::Entry& entry, uint32_t mtu);

}  // namespace ipop::dp
