"""densekit as a benchmark peer: the models through its Keras-shaped API, as a user writes them."""

__all__ = ["Predictor", "Trainer", "load", "set_threads"]

import densekit as keras
from suite.workloads import ADAM, FEATURES, MODELS


def load(threads):
    """Sets the thread count; returns the version string."""
    keras.set_num_threads(threads)
    return keras.__version__


def set_threads(threads):
    keras.set_num_threads(threads)


def build(model):
    layers = [keras.layers.Flatten(input_shape=[FEATURES])]
    for layer in MODELS[model].layers:
        if layer.kind == "batch_norm":
            layers.append(keras.layers.BatchNormalization())
        elif layer.kind == "activation":
            layers.append(keras.layers.Activation(layer.activation))
        elif layer.kind == "dropout":
            layers.append(keras.layers.Dropout(layer.rate))
        else:
            layers.append(
                keras.layers.Dense(
                    layer.units,
                    activation=layer.activation,
                    use_bias=layer.use_bias,
                    kernel_initializer=layer.initializer,
                )
            )
    return keras.Sequential(layers)


class Trainer:
    """One model trained by `fit`, one epoch per call; frozen=True trains only the top layer;
    optimizer is "sgd" or "adam"."""

    def __init__(self, model, batch, frozen=False, optimizer="sgd"):
        spec = MODELS[model]
        self.model = build(model)
        if frozen:
            for layer in self.model.layers[:-1]:
                layer.trainable = False
        clip = dict([spec.clip]) if spec.clip else {}
        if optimizer == "adam":
            optimizer = keras.optimizers.Adam(
                learning_rate=ADAM.learning_rate,
                beta_1=ADAM.beta_1,
                beta_2=ADAM.beta_2,
                epsilon=ADAM.epsilon,
                **clip,
            )
        else:
            optimizer = keras.optimizers.SGD(learning_rate=spec.learning_rate, **clip)
        self.model.compile(
            loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"]
        )
        self.batch = batch

    def epoch(self, x, y, seed):
        """Trains one epoch on (x, y), shuffled by `seed`; returns the epoch's mean loss."""
        history = self.model.fit(x, y, batch_size=self.batch, epochs=1, verbose=0, seed=seed)
        return history.history["loss"][-1]


class Predictor:
    """The model in inference mode: `predict` on many samples, or on one."""

    def __init__(self, model):
        self.model = build(model)

    def predict(self, x, batch):
        return self.model.predict(x, batch_size=batch, verbose=0)

    def one(self, x):
        return self.model.predict(x, verbose=0)
