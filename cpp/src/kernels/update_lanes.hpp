// Internal to cpp/src/kernels: the 16-float lanes the optimizer's update rules and their bounds
// work in (update_rules.cpp, update_bounds.cpp). Not installed, not part of the API.
#pragma once

#include <algorithm>

#include "densekit/kernels/update_rules.hpp"

namespace densekit::update_lanes {

using Lane = Eigen::Array<Scalar, 1, 16>;

// One lane of 16 elements of a run: the variable, the gradient, the slots and the average.
struct Lanes {
  Lane w, g, s[kMaxSlots], average, accumulator;
};

// The lanes of the run's arrays: a full lane maps the memory, the last one is zero-padded (every
// rule maps zeros to finite values) and count says how many of its elements are real.
// p must not be null (nor in store).
inline __attribute__((always_inline)) void load(Lane& lane, const Scalar* p, Index i, Index count) {
  if (count == 16) {
    lane = Eigen::Map<const Lane>(p + i);
  } else {
    lane.setZero();
    std::copy(p + i, p + i + count, lane.data());
  }
}

inline __attribute__((always_inline)) void store(const Lane& lane, Scalar* p, Index i,
                                                 Index count) {
  if (count == 16) {
    Eigen::Map<Lane>(p + i) = lane;
  } else {
    std::copy(lane.data(), lane.data() + count, p + i);
  }
}

}  // namespace densekit::update_lanes
