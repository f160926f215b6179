"""scikit-learn estimators around densekit models, with Keras 3's `keras.wrappers` API."""

from densekit._optional import require
from densekit.models import Sequential, clone_model
from densekit.wrappers._targets import ColumnTarget, OneHotTarget, check_target_type

# scikit-learn is imported here, when densekit.wrappers is first used, never by `import densekit`.
_sklearn_base = require("sklearn.base", extra="sklearn", feature="densekit.wrappers")
_validation = require("sklearn.utils.validation", extra="sklearn", feature="densekit.wrappers")
BaseEstimator, ClassifierMixin = _sklearn_base.BaseEstimator, _sklearn_base.ClassifierMixin
RegressorMixin, TransformerMixin = _sklearn_base.RegressorMixin, _sklearn_base.TransformerMixin

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


def _validate(estimator, X, y=None, reset=True, **checks):
    """scikit-learn's input checks (2-D numeric X, `n_features_in_`) across its versions."""
    try:
        from sklearn.utils.validation import validate_data  # scikit-learn >= 1.6
    except ImportError:
        validate_data = type(estimator)._validate_data
    if y is None:
        return validate_data(estimator, X, reset=reset)
    return validate_data(estimator, X, y, reset=reset, **checks)


class _Wrapper(BaseEstimator):
    """What the three wrappers share: the model to fit, its targets and its predictions.

    Args:
        model: a compiled densekit `Sequential`, cloned with `densekit.models.clone_model`
            (fresh weights, same compile arguments) at each `fit` unless `warm_start`; or a
            callable `model(X=X, y=y, **model_kwargs)` returning a compiled `Sequential`, where
            `y` is the target as the model trains on it (one-hot for the classifier).
        warm_start: reuse the weights of the previous `fit` (the first `fit` trains the given
            model itself, not a clone) instead of starting from fresh ones.
        model_kwargs: keyword arguments for `model` when it is a callable.
        fit_kwargs: keyword arguments for `model.fit` (`epochs`, `batch_size`, ...); those given
            to the wrapper's `fit` take precedence.

    Attributes:
        model_: the fitted model.
        history_: the `History` returned by `model_.fit`.
        n_features_in_: the number of features seen in `fit`.
    """

    _multi_output = True  # y may have several columns

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def _more_tags(self):  # scikit-learn < 1.6
        return {
            "non_deterministic": True,
            "poor_score": True,
            "requires_y": True,
            "multioutput": self._multi_output,
        }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Training starts from random weights and its outcome depends on the model and epochs.
        tags.non_deterministic = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = self._multi_output
        return tags

    def fit(self, X, y, sample_weight=None, **kwargs):
        """Trains a model on `X` (samples, features) and `y` (samples,) or (samples, outputs).

        `sample_weight` (one per sample) weights the loss; named here, it can be routed by
        scikit-learn's metadata routing (`set_fit_request(sample_weight=True)`). Other keyword
        arguments go to `model.fit`, over `fit_kwargs`. Returns self.
        """
        name = type(self).__name__
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None")
        X, y = _validate(self, X, y, reset=True, multi_output=self._multi_output)
        if sample_weight is not None:
            sample_weight = _validation._check_sample_weight(
                sample_weight, X, ensure_non_negative=True
            )
            if not sample_weight.any():
                raise ValueError(f"{name}: sample_weight is 0 for every sample: nothing to fit")
            kwargs["sample_weight"] = sample_weight
        self._target = self._make_target(y)
        target = self._target.encode(y)
        model = self._get_model(X, target)
        self.history_ = model.fit(X, target, **{**(self.fit_kwargs or {}), **kwargs})
        self.model_ = model
        return self

    def _make_target(self, y):
        check_target_type(self, y)
        return ColumnTarget(y)

    def _get_model(self, X, target):
        name = type(self).__name__
        if self.warm_start and hasattr(self, "model_"):
            return self.model_
        if isinstance(self.model, Sequential):
            model = self.model if self.warm_start else clone_model(self.model)
        elif callable(self.model):
            model = self.model(X=X, y=target, **(self.model_kwargs or {}))
            if not isinstance(model, Sequential):
                raise ValueError(
                    f"{name}: the callable `model` must return a densekit Sequential. "
                    f"Received: {model!r}"
                )
        else:
            raise ValueError(
                f"{name}: model must be a compiled densekit Sequential or a callable returning "
                f"one. Received: model={self.model!r}"
            )
        if not model.compiled or model.loss is None or model.optimizer is None:
            raise RuntimeError(
                f"{name}: the model '{model.name}' must be compiled with a loss and an optimizer"
            )
        return model

    def _outputs(self, X):
        _validation.check_is_fitted(self)
        X = _validate(self, X, reset=False)
        return self.model_.predict(X, verbose=0)

    def predict(self, X):
        """The model's predictions for `X`, in the form of the targets given to `fit`."""
        outputs = self._outputs(X)  # checks first that the estimator is fitted
        return self._target.decode(outputs)


class SKLearnClassifier(ClassifierMixin, _Wrapper):
    """A scikit-learn classifier around a densekit model, as Keras 3's `SKLearnClassifier`.

    The labels (binary or multiclass, any sortable values) train as one-hot columns, one per class
    of `classes_`, so the model ends in one unit per class (softmax) and is compiled with
    `categorical_crossentropy`; `predict` returns the class of the largest output.

    Args and attributes: as `SKLearnRegressor`, and `classes_`, the sorted class labels.

    Example:
        >>> def make_model(X, y, hidden=32):
        ...     model = densekit.Sequential([
        ...         densekit.Input((X.shape[1],)),
        ...         densekit.layers.Dense(hidden, activation="relu"),
        ...         densekit.layers.Dense(y.shape[1], activation="softmax")])
        ...     model.compile(loss="categorical_crossentropy", optimizer="adam")
        ...     return model
        >>> clf = SKLearnClassifier(make_model, model_kwargs={"hidden": 64},
        ...                         fit_kwargs={"epochs": 10, "verbose": 0})
        >>> clf.fit(X, y).score(X_test, y_test)
    """

    _multi_output = False  # one label per sample; a column of labels is flattened, with a warning

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags

    def _make_target(self, y):
        check_target_type(self, y, allowed=("binary", "multiclass"))
        target = OneHotTarget(y, type(self).__name__)
        if len(target.classes) < 2:
            raise ValueError(
                f"{type(self).__name__}: a classifier needs at least two classes in y. "
                f"Received: one class, {target.classes[0]!r}"
            )
        self.classes_ = target.classes
        return target

    def decision_function(self, X):
        """The model's raw outputs for `X`, one column per class of `classes_`."""
        return self._outputs(X)


class SKLearnRegressor(RegressorMixin, _Wrapper):
    """A scikit-learn regressor around a densekit model, as Keras 3's `SKLearnRegressor`.

    A 1-D `y` trains as one column and `predict` returns 1-D predictions; a 2-D `y` (several
    outputs, which Keras's wrapper refuses) trains and predicts as it is. `score` is the coefficient of determination R².
    """

    __doc__ += _Wrapper.__doc__.split("\n", 1)[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags


class SKLearnTransformer(TransformerMixin, _Wrapper):
    """A scikit-learn transformer around a densekit model, as Keras 3's `SKLearnTransformer`:
    `fit` trains the model on `X` and `y` (1-D or 2-D), `transform(X)` returns the model's outputs (for
    instance an embedding, from a model whose last layer gives it).

    Args and attributes: as `SKLearnRegressor`.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # float32 outputs, whatever the input dtype
        return tags

    def transform(self, X):
        """The model's outputs for `X`, (samples, outputs)."""
        return self._outputs(X)
