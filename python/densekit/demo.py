"""`densekit demo`: a batch-normalized deep model trained on the digits data set."""

import numpy as np

__all__ = ["run"]


def build_bn_model(input_shape=(8, 8), classes=10):
    """The demo's model: BN first (no manual standardizing), Dense without bias before BN,
    BN before the activation in the second block."""
    import densekit as keras

    return keras.Sequential(
        [
            keras.layers.Flatten(input_shape=list(input_shape)),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(
                300, activation="relu", use_bias=False, kernel_initializer="he_normal"
            ),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(100, use_bias=False, kernel_initializer="he_normal"),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dense(10 if classes is None else classes, activation="softmax"),
        ]
    )


def run(epochs=20, batch_size=32, seed=42, verbose=1):
    """Trains the batch-normalized model on digits; prints the summary, the progress and the test accuracy.

    Returns:
        The test accuracy, a float in [0, 1].
    """
    import densekit as keras

    np.random.seed(seed)
    import random

    random.seed(seed)
    (x_train, y_train), (x_test, y_test) = keras.datasets.digits.load_data()
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels\n")
    model = build_bn_model()
    model.summary()
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, clipvalue=1.0),
        metrics=["accuracy"],
    )
    model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=0.1,
        verbose=verbose,
        seed=seed,
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"\ntest loss: {loss:.4f}   test accuracy: {accuracy:.4f}")
    return accuracy
