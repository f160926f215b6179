"""The count of training batches since a callback last saved, for saving every n batches."""


class BatchesSinceSave:
    """Counts the batches run since the last save of a callback that saves every `every`.

    Batch indices restart at 0 each epoch, and a chunked report (see `base`) gives the last
    batch of a chunk, so each report adds how far the index moved on.
    """

    def __init__(self, every):
        self.every = every
        self.reset()

    def reset(self):
        self.count = 0
        self.last_batch = None

    def due(self, batch):
        """Adds the batches up to `batch`; True (and the count restarts) when a save is due."""
        new_epoch = self.last_batch is None or batch <= self.last_batch
        self.count += batch + 1 if new_epoch else batch - self.last_batch
        self.last_batch = batch
        if self.count >= self.every:
            self.count = 0
            return True
        return False
