"""densekit.wrappers: scikit-learn estimators around densekit models, as Keras 3's wrappers.

The wrapped models are seeded (initializers and fit's shuffle), so a wrapper's fit is compared
exactly with the same model trained directly, and parallel searches (`n_jobs=2`, one densekit
thread per loky worker) with the same searches run in this process on one thread.
"""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densekit

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from densekit.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

FIT = {"epochs": 4, "batch_size": 32, "verbose": 0, "seed": 0}


def make_model(X, y, hidden=16, learning_rate=0.01, loss="categorical_crossentropy", out="softmax"):
    """A seeded one-hidden-layer model sized from X and the encoded y."""
    model = densekit.Sequential(
        [
            densekit.Input((X.shape[1],)),
            densekit.layers.Dense(
                hidden, activation="relu", kernel_initializer=densekit.initializers.HeNormal(1)
            ),
            densekit.layers.Dense(
                y.shape[1],
                activation=out,
                kernel_initializer=densekit.initializers.GlorotUniform(2),
            ),
        ]
    )
    model.compile(loss=loss, optimizer=densekit.optimizers.Adam(learning_rate))
    return model


REGRESSION = {"loss": "mse", "out": "linear"}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0)[:900], y[:900]


def test_classifier_fits_predicts_and_scores_as_the_same_model_trained_directly(digits):
    X, y = digits
    given = make_model(X, np.zeros((1, 10)))
    before = [w.copy() for w in given.get_weights()]
    clf = SKLearnClassifier(given, fit_kwargs=FIT).fit(X[:600], y[:600])

    direct = densekit.models.clone_model(given)
    direct.fit(X[:600], np.eye(10)[y[:600]], **FIT)
    probabilities = direct.predict(X[600:], verbose=0)
    assert_array_equal(clf.decision_function(X[600:]), probabilities)
    assert_array_equal(clf.predict(X[600:]), np.argmax(probabilities, axis=1))
    accuracy = np.mean(np.argmax(probabilities, axis=1) == y[600:])
    assert clf.score(X[600:], y[600:]) == pytest.approx(accuracy)
    assert accuracy > 0.7  # four epochs of Adam learn digits (chance: 0.1)
    assert clf.history_.history["loss"] == direct.history.history["loss"]
    assert clf.n_features_in_ == 64
    # The given model was cloned, not trained.
    for a, b in zip(given.get_weights(), before):
        assert_array_equal(a, b)


def test_classifier_labels_of_any_sortable_kind_come_back_as_given(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "5", "6", "7", "8", "9"])[y]
    clf = SKLearnClassifier(make_model, fit_kwargs=FIT).fit(X[:600], names[:600])
    assert_array_equal(clf.classes_, np.unique(names))
    predicted = clf.predict(X[600:])
    assert predicted.dtype == names.dtype
    assert_array_equal(predicted, clf.classes_[np.argmax(clf.decision_function(X[600:]), axis=1)])


def test_classifier_flattens_a_column_of_labels_with_a_warning(digits):
    X, y = digits
    clf = SKLearnClassifier(make_model, fit_kwargs=FIT)
    with pytest.warns(sklearn.exceptions.DataConversionWarning):
        clf.fit(X[:300], y[:300, None])
    flat = SKLearnClassifier(make_model, fit_kwargs=FIT).fit(X[:300], y[:300])
    assert_array_equal(clf.predict(X[300:]), flat.predict(X[300:]))
    assert clf.predict(X[300:]).shape == (600,)


def test_regressor_scores_r2_of_the_same_model_trained_directly(digits):
    X, y = digits
    target = y.astype(np.float64)
    reg = SKLearnRegressor(make_model, model_kwargs=REGRESSION, fit_kwargs=FIT)
    reg.fit(X[:600], target[:600])
    direct = make_model(X, target[:, None], **REGRESSION)
    direct.fit(X[:600], target[:600, None], **FIT)
    expected = direct.predict(X[600:], verbose=0)[:, 0]
    assert reg.predict(X[600:]).shape == (300,)
    assert_array_equal(reg.predict(X[600:]), expected)
    residual = np.sum((target[600:] - expected) ** 2)
    total = np.sum((target[600:] - target[600:].mean()) ** 2)
    assert reg.score(X[600:], target[600:]) == pytest.approx(1 - residual / total, rel=1e-6)
    # Two target columns train and predict as two columns.
    two = np.stack([target, -target], axis=1)
    assert SKLearnRegressor(make_model, model_kwargs=REGRESSION, fit_kwargs=FIT).fit(
        X[:600], two[:600]
    ).predict(X[600:]).shape == (300, 2)


def test_sample_weight_is_routed_by_scikit_learns_metadata_routing(digits):
    from sklearn.model_selection import cross_validate

    X, y = digits[0][:300], digits[1][:300]
    weights = np.where(y % 2 == 0, 3.0, 0.5)
    folds = list(KFold(2).split(X))
    direct = []
    for train, test in folds:
        reg = SKLearnClassifier(make_model, fit_kwargs=FIT)
        direct.append(
            reg.fit(X[train], y[train], sample_weight=weights[train]).score(X[test], y[test])
        )
    with sklearn.config_context(enable_metadata_routing=True):
        routed = SKLearnClassifier(make_model, fit_kwargs=FIT)
        routed.set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
        scores = cross_validate(routed, X, y, cv=folds, params={"sample_weight": weights})
    assert_allclose(scores["test_score"], direct)
    unweighted = [
        SKLearnClassifier(make_model, fit_kwargs=FIT).fit(X[tr], y[tr]).score(X[te], y[te])
        for tr, te in folds
    ]
    assert not np.allclose(direct, unweighted)


def test_transformer_transforms_to_the_model_outputs(digits):
    X, y = digits
    trans = SKLearnTransformer(make_model, model_kwargs={"hidden": 8}, fit_kwargs=FIT)
    out = trans.fit_transform(X[:600], np.eye(10)[y[:600]])
    assert out.shape == (600, 10)
    assert_array_equal(out, trans.model_.predict(X[:600], verbose=0))
    assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)  # the softmax of the model


def test_warm_start_continues_from_the_previous_fit(digits):
    X, y = digits
    onehot = np.eye(10)[y[:300]]
    warm = SKLearnClassifier(make_model, warm_start=True, fit_kwargs=FIT)
    warm.fit(X[:300], y[:300])
    first = warm.model_
    warm.fit(X[:300], y[:300])
    assert warm.model_ is first
    direct = make_model(X, onehot)
    direct.fit(X[:300], onehot, **FIT)
    direct.fit(X[:300], onehot, **FIT)
    for a, b in zip(warm.model_.get_weights(), direct.get_weights()):
        assert_array_equal(a, b)
    # Without warm_start each fit starts again from the model's fresh weights.
    cold = SKLearnClassifier(make_model, fit_kwargs=FIT)
    once = cold.fit(X[:300], y[:300]).decision_function(X[300:400])
    assert_array_equal(cold.fit(X[:300], y[:300]).decision_function(X[300:400]), once)


def test_clone_copies_parameters_and_not_the_fit(digits):
    X, y = digits
    given = make_model(X, np.zeros((1, 10)))
    clf = SKLearnClassifier(given, model_kwargs={"a": 1}, fit_kwargs=FIT).fit(X[:300], y[:300])
    copy = clone(clf)
    assert not hasattr(copy, "model_")
    assert copy.fit_kwargs == FIT and copy.model_kwargs == {"a": 1}
    assert copy.model is not given
    assert copy.model.get_config() == given.get_config()
    assert_array_equal(copy.fit(X[:300], y[:300]).predict(X), clf.predict(X))


def test_a_fitted_wrapper_pickles_and_predicts_the_same(digits):
    X, y = digits
    clf = SKLearnClassifier(make_model, fit_kwargs=FIT).fit(X[:300], y[:300])
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.decision_function(X), clf.decision_function(X))
    assert_array_equal(restored.classes_, clf.classes_)
    assert restored.history_.history["loss"] == clf.history_.history["loss"]


def test_pipeline_with_standard_scaler_is_scaling_then_the_wrapper(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), SKLearnClassifier(make_model, fit_kwargs=FIT))
    pipe.fit(X[:600], y[:600])
    scaler = StandardScaler().fit(X[:600])
    clf = SKLearnClassifier(make_model, fit_kwargs=FIT).fit(scaler.transform(X[:600]), y[:600])
    assert_array_equal(pipe.predict(X[600:]), clf.predict(scaler.transform(X[600:])))
    assert pipe.score(X[600:], y[600:]) == clf.score(scaler.transform(X[600:]), y[600:])


def test_cross_val_score_in_two_workers_equals_the_sequential_run(digits):
    X, y = digits
    clf = SKLearnClassifier(make_model, fit_kwargs=FIT)
    folds = KFold(3, shuffle=True, random_state=0)
    parallel = cross_val_score(clf, X, y, cv=folds, n_jobs=2)
    sequential = cross_val_score(clf, X, y, cv=folds, n_jobs=1)
    assert_array_equal(parallel, sequential)
    assert parallel.min() > 0.7


def test_grid_search_in_two_workers_finds_what_the_sequential_search_finds(digits):
    X, y = digits
    grid = {
        "model_kwargs": [{"hidden": 4}, {"hidden": 32}],
        "fit_kwargs": [FIT, {**FIT, "epochs": 1}],
    }
    searches = [
        GridSearchCV(SKLearnClassifier(make_model), grid, cv=3, n_jobs=n).fit(X, y) for n in (2, 1)
    ]
    assert searches[0].best_params_ == searches[1].best_params_
    assert_array_equal(
        searches[0].cv_results_["mean_test_score"], searches[1].cv_results_["mean_test_score"]
    )
    # 32 hidden units for 4 epochs beat 4 units for one epoch by far.
    assert searches[0].best_params_ == {"fit_kwargs": FIT, "model_kwargs": {"hidden": 32}}
    assert searches[0].best_estimator_.model_.layers[0].units == 32


def test_randomized_search_in_two_workers_equals_the_sequential_search(digits):
    X, y = digits
    space = {
        "model_kwargs": [{"hidden": h, "learning_rate": r} for h in (8, 16) for r in (1e-3, 1e-2)]
    }
    searches = [
        RandomizedSearchCV(
            SKLearnRegressor(make_model, model_kwargs=REGRESSION, fit_kwargs=FIT),
            [{"model_kwargs": [{**REGRESSION, **p} for p in space["model_kwargs"]]}],
            n_iter=3,
            cv=2,
            random_state=0,
            n_jobs=n,
        ).fit(X, y.astype(float))
        for n in (2, 1)
    ]
    assert searches[0].best_params_ == searches[1].best_params_
    assert_array_equal(
        searches[0].cv_results_["mean_test_score"], searches[1].cv_results_["mean_test_score"]
    )


# --- target encoding against Keras 3's wrapper --------------------------------------------------


def _recording_model(seen):
    def model(X, y, **kwargs):
        seen.append(y)
        return make_model(X, y)

    return model


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize(
    "labels",
    [
        np.array([3, 1, 2, 3, 1, 2, 2, 3, 1, 1]),
        np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 0]),
        np.array(["cat", "dog", "ant", "dog", "cat", "ant", "cat", "cat", "dog", "ant"]),
        np.array([10, -1, 0, 10, 10, -1, 0, 0, -1, 10]),
    ],
    ids=["multiclass", "binary", "strings", "negative"],
)
def test_target_encoding_matches_keras_3(labels):
    keras = pytest.importorskip("keras")
    from keras.wrappers import SKLearnClassifier as KerasClassifier

    X = np.random.default_rng(0).normal(size=(len(labels), 3))
    theirs = KerasClassifier(model=None)
    encoded = theirs._process_target(labels, reset=True)
    seen = []
    ours = SKLearnClassifier(_recording_model(seen), fit_kwargs={"epochs": 1, "verbose": 0})
    ours.fit(X, labels)
    assert_array_equal(seen[0], encoded)
    assert_array_equal(ours.classes_, theirs.classes_)
    outputs = ours.decision_function(X)
    assert_array_equal(ours.predict(X), theirs._reverse_process_target(outputs))
    del keras


# --- errors --------------------------------------------------------------------------------------


def test_bad_models_and_targets_raise_clear_errors(digits):
    X, y = digits
    with pytest.raises(ValueError, match="at least two classes"):
        SKLearnClassifier(make_model, fit_kwargs=FIT).fit(X[:20], np.zeros(20))
    with pytest.raises(ValueError, match="'continuous' is not supported"):
        SKLearnClassifier(make_model, fit_kwargs=FIT).fit(X[:20], np.linspace(0, 1, 20))
    uncompiled = densekit.Sequential([densekit.Input((64,)), densekit.layers.Dense(10)])
    with pytest.raises(RuntimeError, match="must be compiled"):
        SKLearnClassifier(uncompiled).fit(X[:20], y[:20])
    with pytest.raises(ValueError, match="model must be a compiled densekit Sequential"):
        SKLearnRegressor(model="mlp").fit(X[:20], y[:20])
    with pytest.raises(ValueError, match="must return a densekit Sequential"):
        SKLearnRegressor(model=lambda X, y: None).fit(X[:20], y[:20])
    with pytest.raises(ValueError, match="requires y to be passed"):
        SKLearnTransformer(make_model).fit(X[:20], None)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        SKLearnRegressor(make_model).predict(X[:20])


# --- scikit-learn's estimator checks -------------------------------------------------------------

# The checks that cannot hold for these wrappers, as in Keras 3's:
# Mini-batch training: a sample given twice lands in other batches than one weighted twice, so
# the two fits differ by far more than the check's 1e-7.
_WEIGHT_IS_NOT_REPETITION = {
    "check_sample_weight_equivalence_on_dense_data": "mini-batches: weighting is not repeating"
}
_EXPECTED_FAILURES = {
    SKLearnClassifier: {
        **_WEIGHT_IS_NOT_REPETITION,
        # Keras's decision_function returns the model's outputs, one column per class, also for
        # two classes; scikit-learn expects one column (the positive class's score) then.
        "check_classifiers_train": "decision_function has one column per class, also for two",
        "check_classifiers_classes": "decision_function has one column per class, also for two",
    },
    SKLearnRegressor: {
        **_WEIGHT_IS_NOT_REPETITION,
        # Predictions are the model's float32 outputs, as Keras's; scikit-learn wants float64
        # from a regressor with several outputs.
        "check_regressor_multioutput": "predictions are float32, the model's precision",
    },
    SKLearnTransformer: {**_WEIGHT_IS_NOT_REPETITION},
}


@pytest.mark.parametrize("cls", [SKLearnClassifier, SKLearnRegressor, SKLearnTransformer])
def test_scikit_learn_estimator_checks(cls):
    # The model is seeded, so the checks that compare two fits apply too. Those tagged
    # non-deterministic (as Keras tags its wrappers) are skipped by scikit-learn itself.
    if tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 6):
        pytest.skip("expected_failed_checks needs scikit-learn >= 1.6")
    from sklearn.utils.estimator_checks import check_estimator

    kwargs = {} if cls is SKLearnClassifier else REGRESSION
    estimator = cls(make_model, model_kwargs=kwargs, fit_kwargs={**FIT, "epochs": 20})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checks feed odd data on purpose and warn about it
        results = check_estimator(
            estimator, expected_failed_checks=_EXPECTED_FAILURES[cls], on_skip=None
        )
    statuses = {r["check_name"]: r["status"] for r in results}
    assert statuses["check_estimators_pickle"] == "passed"
    assert statuses["check_fit2d_1sample"] == "passed"
    assert statuses["check_n_features_in"] == "passed"
    assert statuses["check_fit_idempotent"] == "passed"
    assert sum(s == "passed" for s in statuses.values()) > 30
