"""Reusing pretrained layers: shared layers, clone_model, freezing (no update, no weight
gradient, BatchNormalization in inference mode, summary), and the transfer-learning recipe
end to end on scikit-learn's digits."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densekit as keras

L = keras.layers
I = keras.initializers


def _copies(layers):
    return [np.array(w) for layer in layers for w in layer.get_weights()]


def _assert_same(a, b):
    for x, y in zip(a, b, strict=True):
        assert_array_equal(x, y)


def _assert_all_differ(a, b):
    for x, y in zip(a, b, strict=True):
        assert not np.array_equal(x, y)


def _summary_counts(model):
    lines = []
    model.summary(print_fn=lines.append)
    counts = {}
    for line in lines:
        for key in ("Total", "Trainable", "Non-trainable"):
            if line.startswith(f"{key} params:"):
                counts[key] = int(line.split(":")[1].replace(",", ""))
    return counts


def _data(samples=64, features=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.float32).reshape(-1, 1)


def _stack(seed=0):
    return keras.Sequential(
        [
            L.Dense(
                8, activation="relu", input_shape=(5,), kernel_initializer=I.HeNormal(seed=seed)
            ),
            L.BatchNormalization(),
            L.Dense(6, activation="relu", kernel_initializer=I.HeNormal(seed=seed + 1)),
            L.Dense(1, activation="sigmoid", kernel_initializer=I.GlorotUniform(seed=seed + 2)),
        ]
    )


def _compile(model, lr=0.1):
    model.compile(
        optimizer=keras.optimizers.SGD(lr, momentum=0.9),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


# -- sharing and cloning ---------------------------------------------------------------------------


def test_sequential_of_another_models_layers_shares_them():
    model_a = _compile(_stack())
    model_b = keras.Sequential(model_a.layers[:-1])
    model_b.add(L.Dense(1, activation="sigmoid"))
    assert all(b is a for a, b in zip(model_a.layers[:-1], model_b.layers))
    before = _copies(model_a.layers[:-1])
    x, y = _data()
    _compile(model_b).fit(x, y, epochs=2, verbose=0)
    # As in Keras: training B trains A's layers, which are the same objects.
    _assert_all_differ(_copies(model_a.layers[:-1]), before)
    _assert_same(_copies(model_a.layers[:-1]), _copies(model_b.layers[:-1]))


def test_clone_model_builds_fresh_layers_from_the_same_config():
    model_a = _compile(_stack())
    x, y = _data()
    model_a.fit(x, y, epochs=1, verbose=0)
    clone = keras.models.clone_model(model_a)
    # As Keras 3: the same names, configs and compile settings; new layers and a new optimizer.
    assert all(c is not a for a, c in zip(model_a.layers, clone.layers))
    assert clone.get_config() == model_a.get_config()
    assert clone.optimizer is not model_a.optimizer
    assert clone.optimizer.get_config() == model_a.optimizer.get_config()
    assert clone.optimizer.iterations == 0
    assert not np.array_equal(clone.get_weights()[0], model_a.get_weights()[0])
    clone.set_weights(model_a.get_weights())
    _assert_same(clone.get_weights(), model_a.get_weights())
    snapshot = model_a.get_weights()
    clone.fit(x, y, epochs=2, verbose=0)
    _assert_same(model_a.get_weights(), snapshot)  # the original is untouched
    assert not np.array_equal(clone.get_weights()[0], snapshot[0])
    relu_only = keras.models.clone_model(
        model_a,
        clone_function=lambda l: (
            L.ReLU(name=l.name)
            if isinstance(l, L.Dense)
            else l.__class__.from_config(l.get_config())
        ),
    )
    assert [type(l).__name__ for l in relu_only.layers] == [
        "ReLU",
        "BatchNormalization",
        "ReLU",
        "ReLU",
    ]


# -- freezing ----------------------------------------------------------------------------------------


def test_frozen_layer_gets_no_update_and_moves_to_non_trainable():
    model = _stack()
    # Dense 5*8+8 = 48, BatchNormalization 4*8 = 32 (moving stats 16 non-trainable),
    # Dense 8*6+6 = 54, Dense 6+1 = 7: 141 in all.
    counts = _summary_counts(model)
    assert counts == {"Total": 141, "Trainable": 48 + 16 + 54 + 7, "Non-trainable": 16}
    model.layers[0].trainable = False
    model.layers[2].trainable = False
    assert [v.path.split("/")[1] for v in model.trainable_weights] == [
        "gamma",
        "beta",
        "kernel",
        "bias",
    ]
    # The frozen Dense layers' 48 + 54 parameters become non-trainable (with BN's moving stats).
    assert _summary_counts(model) == {
        "Total": 141,
        "Trainable": 16 + 7,
        "Non-trainable": 48 + 54 + 16,
    }
    frozen = _copies([model.layers[0], model.layers[2]])
    _compile(model)
    x, y = _data()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    _assert_same(_copies([model.layers[0], model.layers[2]]), frozen)
    assert not np.array_equal(model.layers[3].get_weights()[0], frozen[0])


def test_backward_pass_skips_frozen_weight_gradients():
    model = _stack()
    model.layers[2].trainable = False  # frozen between trainable layers: dx still flows through
    _compile(model)
    sentinel = np.float32(12345.0)
    for layer in model.layers:
        for parameter in layer._core.parameters:
            parameter.grad[...] = sentinel
    x, y = _data()
    model.train_on_batch(x, y)
    assert all((p.grad == sentinel).all() for p in model.layers[2]._core.parameters)
    for i in (0, 3):
        assert all((p.grad != sentinel).all() for p in model.layers[i]._core.parameters)


def test_frozen_batch_normalization_runs_in_inference_mode():
    model = _stack()
    bn = model.layers[1]
    x, y = _data()
    _compile(model).fit(x, y, epochs=1, verbose=0)  # moving statistics away from 0 and 1
    assert not np.allclose(model(x, training=True), model(x, training=False))
    bn.trainable = False
    _compile(model)
    # Frozen, it normalizes with the moving statistics even in a training step, and keeps them.
    np.testing.assert_allclose(model(x, training=True), model(x, training=False), rtol=1e-6)
    stats = _copies([bn])
    model.fit(x, y, epochs=2, verbose=0)
    _assert_same(_copies([bn]), stats)


def test_model_trainable_false_freezes_every_layer():
    model = _stack()
    model.trainable = False
    assert not model.trainable and all(not layer.trainable for layer in model.layers)
    assert model.trainable_weights == []
    assert _summary_counts(model) == {"Total": 141, "Trainable": 0, "Non-trainable": 141}
    snapshot = model.get_weights()
    x, y = _data()
    _compile(model).fit(x, y, epochs=2, verbose=0)
    _assert_same(model.get_weights(), snapshot)
    model.trainable = True
    _compile(model).fit(x, y, epochs=1, verbose=0)
    _assert_all_differ(model.get_weights()[:2], snapshot[:2])


def test_a_layer_unfrozen_after_compile_trains_and_its_state_is_saved_and_copied(tmp_path):
    import copy

    x, y = _data()
    model = _stack()
    model.layers[0].trainable = False
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    slots_before = len(model.optimizer.variables)
    first = _copies(model.layers[:1])
    model.layers[0].trainable = True
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    _assert_all_differ(_copies(model.layers[:1]), first)
    # Adam's momentum and velocity of the kernel and the bias join the optimizer's variables.
    assert len(model.optimizer.variables) == slots_before + 4
    model.save(tmp_path / "m.keras")
    copied, loaded = copy.deepcopy(model), keras.models.load_model(tmp_path / "m.keras")
    for other in (copied, loaded):
        for a, b in zip(other.optimizer.variables, model.optimizer.variables, strict=True):
            assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))
    model.train_on_batch(x, y)
    for other in (copied, loaded):
        other.train_on_batch(x, y)
        _assert_same(other.get_weights(), model.get_weights())


def test_trainable_flags_survive_save_clone_and_json(tmp_path):
    model = _stack()
    model.layers[0].trainable = False
    model.save(tmp_path / "m.keras")
    for other in (
        keras.models.load_model(tmp_path / "m.keras"),
        keras.models.clone_model(model),
        keras.models.model_from_json(model.to_json()),
    ):
        assert [layer.trainable for layer in other.layers] == [False, True, True, True]
        assert _summary_counts(other) == _summary_counts(model)


# -- the recipe ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    return keras.datasets.digits.load_data()


def test_transfer_learning_recipe_on_digits(digits, tmp_path):
    (x_train, y_train), (x_test, y_test) = digits
    # Task A: the digits 0-7. Task B: 9 or 8? with only 40 labelled images.
    in_a = y_train < 8
    x_a, y_a = x_train[in_a], y_train[in_a]
    model_a = keras.Sequential(
        [
            L.Flatten(input_shape=(8, 8)),
            L.Dense(64, activation="relu", kernel_initializer=I.HeNormal(seed=1)),
            L.BatchNormalization(),
            L.Dense(32, activation="relu", kernel_initializer=I.HeNormal(seed=2)),
            L.Dense(8, activation="softmax", kernel_initializer=I.GlorotUniform(seed=3)),
        ]
    )
    model_a.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model_a.fit(x_a, y_a, epochs=8, batch_size=64, verbose=0, seed=0)
    in_a_test = y_test < 8
    assert model_a.evaluate(x_test[in_a_test], y_test[in_a_test], verbose=0)[1] > 0.9
    model_a.save(tmp_path / "my_model_a.keras")

    model_a = keras.models.load_model(tmp_path / "my_model_a.keras")
    model_a_clone = keras.models.clone_model(model_a)
    model_a_clone.set_weights(model_a.get_weights())
    snapshot_a = model_a.get_weights()
    predictions_a = model_a.predict(x_test, verbose=0)

    model_b_on_a = keras.Sequential(model_a_clone.layers[:-1])
    model_b_on_a.add(L.Dense(1, activation="sigmoid", kernel_initializer=I.GlorotUniform(seed=4)))
    in_b, in_b_test = y_train >= 8, y_test >= 8
    x_b, y_b = x_train[in_b][:40], (y_train[in_b][:40] == 9).astype(np.float32)
    x_b_test, y_b_test = x_test[in_b_test], (y_test[in_b_test] == 9).astype(np.float32)

    for layer in model_b_on_a.layers[:-1]:
        layer.trainable = False
    model_b_on_a.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    reused = model_b_on_a.layers[:-1]
    frozen = _copies(reused)
    model_b_on_a.fit(x_b, y_b, epochs=4, batch_size=8, verbose=0, seed=0)
    _assert_same(_copies(reused), frozen)  # bit-identical, BatchNormalization's statistics too

    for layer in model_b_on_a.layers[:-1]:
        layer.trainable = True
    model_b_on_a.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    model_b_on_a.fit(x_b, y_b, epochs=16, batch_size=8, verbose=0, seed=1)
    assert not np.array_equal(reused[1].get_weights()[0], frozen[0])
    loss, accuracy = model_b_on_a.evaluate(x_b_test, y_b_test, verbose=0)
    assert accuracy > 0.9

    # Model A was only the source of the clone: not one bit of it moved.
    _assert_same(model_a.get_weights(), snapshot_a)
    assert_array_equal(model_a.predict(x_test, verbose=0), predictions_a)
