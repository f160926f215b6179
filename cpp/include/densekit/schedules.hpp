// Learning-rate schedules: the learning rate (and, for 1cycle, the momentum) as a function of the
// optimizer's step, evaluated by the optimizer once per step inside the training call.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>

namespace densekit {

class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  // The learning rate at this step (0 for the first update).
  virtual double learning_rate(std::int64_t step) const = 0;
  // The momentum (SGD's momentum, the Adam family's beta_1) at this step; NaN when the schedule
  // leaves it alone.
  virtual double momentum(std::int64_t /*step*/) const { return std::nan(""); }
};

}  // namespace densekit
