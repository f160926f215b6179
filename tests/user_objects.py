"""Classes a user writes for densekit, shared by the tests of `custom_objects`."""

import densekit


class HalvingSchedule(densekit.optimizers.schedules.LearningRateSchedule):
    """A learning-rate schedule of a user's own: rate / (1 + step)."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, step):
        return self.rate / (1 + step)

    def get_config(self):
        return {"rate": self.rate}
