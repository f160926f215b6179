"""fit / evaluate / predict on a PyDataset or a generator: the same weights as the same batches
from arrays, Keras's steps rules, on_epoch_end per epoch, prefetching workers, memory-mapped
arrays used in place, and bad input."""

import threading
import warnings

import numpy as np
import pytest

import densekit

pytestmark = pytest.mark.usefixtures("one_thread")

ROWS, BATCH = 60, 16  # 4 batches, the last one partial (12 rows)


@pytest.fixture
def data(rng):
    x = rng.normal(size=(ROWS, 6)).astype(np.float32)
    y = rng.integers(0, 3, ROWS)
    w = rng.uniform(0, 2, ROWS).astype(np.float32)
    return x, y, w


def _model(seed=11):
    densekit.utils.set_random_seed(seed)
    model = densekit.Sequential(
        [
            densekit.Input((6,)),
            densekit.layers.Dense(8, activation="relu"),
            densekit.layers.BatchNormalization(),
            densekit.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _batches(x, y, w=None, batch=BATCH):
    for start in range(0, len(x), batch):
        rows = slice(start, start + batch)
        yield (x[rows], y[rows]) if w is None else (x[rows], y[rows], w[rows])


class Batches(densekit.utils.PyDataset):
    """The arrays in batches of BATCH, counting its epoch hooks and the threads that read it."""

    def __init__(self, x, y, w=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.w = x, y, w
        self.begins = self.ends = 0
        self.threads = set()

    def __len__(self):
        return -(-len(self.x) // BATCH)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(index)
        self.threads.add(threading.get_ident())
        rows = slice(index * BATCH, (index + 1) * BATCH)
        if self.w is None:
            return self.x[rows], self.y[rows]
        return self.x[rows], self.y[rows], self.w[rows]

    def on_epoch_begin(self):
        self.begins += 1

    def on_epoch_end(self):
        self.ends += 1


def _assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def _cycle(x, y, w=None, epochs=3):
    for _ in range(epochs):
        yield from _batches(x, y, w)


@pytest.mark.parametrize("weighted", [False, True])
def test_generator_and_pydataset_train_bit_identical_to_the_same_array_batches(data, weighted):
    x, y, w = data
    w = w if weighted else None
    arrays, generator, dataset = _model(), _model(), _model()
    kwargs = dict(epochs=3, verbose=0)
    h_arrays = arrays.fit(x, y, sample_weight=w, batch_size=BATCH, shuffle=False, **kwargs)
    h_gen = generator.fit(_cycle(x, y, w), steps_per_epoch=4, **kwargs)
    h_data = dataset.fit(Batches(x, y, w), shuffle=False, **kwargs)
    _assert_same_weights(arrays, generator)
    _assert_same_weights(arrays, dataset)
    assert h_gen.history == h_arrays.history == h_data.history
    # evaluate and predict the same way.
    assert dataset.evaluate(Batches(x, y, w), verbose=0) == pytest.approx(
        arrays.evaluate(x, y, sample_weight=w, batch_size=BATCH, verbose=0), rel=1e-6
    )
    np.testing.assert_array_equal(
        dataset.predict((xb for xb, *_ in _batches(x, y)), verbose=0), arrays.predict(x, verbose=0)
    )


def test_pydataset_on_epoch_end_is_called_once_per_epoch(data):
    x, y, _ = data
    train, val = Batches(x, y), Batches(x, y)
    _model().fit(train, epochs=3, validation_data=val, validation_freq=2, verbose=0)
    assert (train.begins, train.ends) == (3, 3)
    assert (val.begins, val.ends) == (1, 1)  # validated after epoch 2 only


def test_validation_freq_2_validates_every_second_epoch_with_a_generator(data):
    x, y, _ = data
    history = (
        _model()
        .fit(
            Batches(x, y),
            epochs=4,
            validation_data=_cycle(x, y, epochs=2),
            validation_steps=4,
            validation_freq=2,
            verbose=0,
        )
        .history
    )
    assert len(history["loss"]) == 4 and len(history["val_loss"]) == 2


class LoggedBatches(Batches):
    """Batches that record the index of every batch read, in `seen`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def __getitem__(self, index):
        self.seen.append(index)
        return super().__getitem__(index)


def test_validation_steps_read_the_same_first_batches_of_a_pydataset_every_epoch(data):
    # Training with steps_per_epoch goes on through the data; validation starts over, as Keras.
    x, y, _ = data
    validation = LoggedBatches(x, y)
    history = _model().fit(
        Batches(x, y), epochs=3, validation_data=validation, validation_steps=2, verbose=0
    )
    assert validation.seen == [0, 1] * 3
    assert len(set(history.history["val_loss"])) == 3  # the weights change, the batches do not


def test_steps_per_epoch_continues_through_a_pydataset_and_warns_when_it_runs_out(data):
    # 4 batches at steps_per_epoch=3: epochs run batches [0, 1, 2], [3] (ran out), [0, 1, 2].
    x, y, _ = data
    dataset = LoggedBatches(x, y)
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data after 1 of this epoch's"):
        history = model.fit(dataset, epochs=3, steps_per_epoch=3, shuffle=False, verbose=0)
    assert dataset.seen[1:] == [0, 1, 2, 3, 0, 1, 2]  # the first read builds the model
    assert len(history.history["loss"]) == 3


def test_a_generator_without_steps_runs_to_its_end_then_fit_stops_with_a_warning(data):
    x, y, _ = data
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data; .* Training stops here"):
        history = model.fit(_batches(x, y), epochs=3, verbose=0)
    assert model.optimizer.iterations == 4  # the 4 batches once; epoch 2 found none
    assert len(history.history["loss"]) == 1


def test_steps_limit_evaluate_and_predict_on_a_generator(data):
    x, y, _ = data
    model = _model()
    got = model.evaluate(_batches(x, y), steps=2, verbose=0)
    want = model.evaluate(x[: 2 * BATCH], y[: 2 * BATCH], batch_size=BATCH, verbose=0)
    assert got == pytest.approx(want, rel=1e-6)
    assert model.predict(_batches(x, y), steps=3, verbose=0).shape == (3 * BATCH, 3)


def test_pydataset_shuffle_draws_the_batch_order_from_the_seed(data):
    x, y, _ = data
    orders = []
    for _ in range(2):
        order = []

        class Logged(Batches):
            def __getitem__(self, index, order=order):
                order.append(index)
                return super().__getitem__(index)

        _model().fit(Logged(x, y), epochs=2, shuffle=True, seed=4, verbose=0)
        orders.append(order[1:])
    assert orders[0] == orders[1]
    assert sorted(orders[0][:4]) == [0, 1, 2, 3] and sorted(orders[0][4:]) == [0, 1, 2, 3]


def test_workers_prefetch_in_threads_and_give_the_same_weights(data):
    x, y, w = data
    serial, threaded = _model(), _model()
    serial.fit(Batches(x, y, w), epochs=2, shuffle=False, verbose=0)
    dataset = Batches(x, y, w, workers=3, max_queue_size=2)
    threaded.fit(dataset, epochs=2, shuffle=False, verbose=0)
    _assert_same_weights(serial, threaded)
    # The first read builds the model on this thread; the epochs' batches come from workers.
    assert dataset.threads - {threading.get_ident()}


def test_zero_workers_or_queue_size_train_as_keras_does(data):
    # workers=0 computes each batch when it is due; max_queue_size=0 bounds nothing.
    x, y, w = data
    serial, no_workers, unbounded = _model(), _model(), _model()
    serial.fit(Batches(x, y, w), epochs=2, shuffle=False, verbose=0)
    no_workers.fit(Batches(x, y, w, workers=0), epochs=2, shuffle=False, verbose=0)
    dataset = Batches(x, y, w, workers=2, max_queue_size=0)
    unbounded.fit(dataset, epochs=2, shuffle=False, verbose=0)
    _assert_same_weights(serial, no_workers)
    _assert_same_weights(serial, unbounded)


def test_class_weight_applies_to_pydataset_batches(data):
    x, y, _ = data
    weights = {0: 2.0, 1: 0.5, 2: 1.0}
    from_dataset, from_arrays = _model(), _model()
    from_dataset.fit(Batches(x, y), class_weight=weights, epochs=2, shuffle=False, verbose=0)
    from_arrays.fit(
        x, y, class_weight=weights, batch_size=BATCH, epochs=2, shuffle=False, verbose=0
    )
    _assert_same_weights(from_dataset, from_arrays)


def test_callbacks_and_early_stopping_work_with_a_generator(data):
    x, y, _ = data
    batches = []

    class Count(densekit.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)

    stop = densekit.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
    history = _model().fit(
        _cycle(x, y, epochs=5), steps_per_epoch=4, epochs=5, callbacks=[Count(), stop], verbose=0
    )
    assert len(history.history["loss"]) == 2  # no improvement of 1e9: stops after epoch 2
    assert batches == [0, 1, 2, 3] * 2


def test_stream_inputs_refuse_arguments_they_carry_themselves(data):
    x, y, w = data
    model = _model()
    with pytest.raises(ValueError, match="y is not supported when x is a PyDataset"):
        model.fit(Batches(x, y), y=y, verbose=0)
    with pytest.raises(ValueError, match="sample_weight is not supported when x is a generator"):
        model.fit(_batches(x, y), sample_weight=w, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(_batches(x, y), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="class_weight is not supported for a generator"):
        model.fit(_batches(x, y), class_weight={0: 1.0}, verbose=0)


def test_bad_batches_and_datasets_raise_clear_errors(data):
    x, y, _ = data
    model = _model()
    with pytest.raises(ValueError, match="no targets"):
        model.fit((xb for xb, _ in _batches(x, y)), verbose=0)
    with pytest.raises(ValueError, match="a tuple of 4 elements"):
        model.fit(((xb, yb, yb, yb) for xb, yb in _batches(x, y)), verbose=0)
    with pytest.raises(ValueError, match="yielded no batch"):
        model.fit(iter([]), verbose=0)
    with pytest.raises(NotImplementedError, match="use_multiprocessing"):
        model.fit(Batches(x, y, use_multiprocessing=True), verbose=0)
    with pytest.raises(ValueError, match=r"workers must be an integer >= 0.*workers=-1"):
        model.fit(Batches(x, y, workers=-1), verbose=0)
    with pytest.raises(ValueError, match=r"max_queue_size must be an integer >= 0"):
        model.fit(Batches(x, y, max_queue_size=1.5), verbose=0)

    class Infinite(Batches):
        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            return super().__getitem__(index % 4)

    with pytest.raises(ValueError, match="infinite.*steps_per_epoch is required"):
        model.fit(Infinite(x, y), verbose=0)
    # With steps it trains, going on through the indices.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(Infinite(x, y), steps_per_epoch=3, epochs=2, verbose=0)


def test_sequence_is_the_pydataset_base_class():
    assert densekit.utils.Sequence is densekit.utils.PyDataset


def test_float32_memmap_trains_in_place_without_a_copy(tmp_path, rng, monkeypatch):
    # A float32 C-contiguous memmap must reach the network as itself: every x the network
    # receives shares memory with the file's mapping.
    path = tmp_path / "x.npy"
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(4096, 6))
    mapped[:] = rng.normal(size=(4096, 6))
    mapped.flush()
    x = np.load(path, mmap_mode="r")
    y = rng.integers(0, 3, 4096)
    model = _model()
    model.build((None, 6))
    received = []
    network = model._network
    real_train_epoch = network.train_epoch

    class Spy:
        def __getattr__(self, name):
            return getattr(network, name)

        def train_epoch(self, x_in, *args, **kwargs):
            received.append(x_in)
            return real_train_epoch(x_in, *args, **kwargs)

    monkeypatch.setattr(model, "_core_network", Spy())
    model.fit(x, y, batch_size=256, epochs=1, verbose=0)
    assert received and all(np.shares_memory(r, x) for r in received)
