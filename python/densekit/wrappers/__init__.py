"""scikit-learn wrappers, as Keras 3's `keras.wrappers`: `SKLearnClassifier`, `SKLearnRegressor`
and `SKLearnTransformer` make a densekit model an estimator that `sklearn.base.clone` copies,
pickle saves, and `Pipeline`, `cross_val_score`, `GridSearchCV` and the like use, in parallel
(`n_jobs`) too. scikit-learn is needed: `pip install "densekit[sklearn]"`.
"""

from densekit.wrappers.sklearn_wrapper import (
    SKLearnClassifier,
    SKLearnRegressor,
    SKLearnTransformer,
)

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]
