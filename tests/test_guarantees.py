"""Every sentence of the README's "Errors and guarantees" section, with the tests that back it.

GUARANTEES maps the opening words of each sentence (each bullet's bold title counts as one) to
tests: `file.py::test_name` in tests/, or `cpp/tests/file.cpp::Suite.Name`. The tests below check
that the section and the list agree, sentence for sentence, and that every named test exists, so
a new sentence needs its tests named here and a renamed test needs its entry mended.
"""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")

GUARANTEES = {
    "Bad input is a Python exception, never a crash.": [
        "test_bad_input_subprocess.py::test_bad_input_raises_without_crashing",
        "test_fuzz_loading.py::test_fuzzing_the_loaders_finds_no_crash",
    ],
    "Every public entry point checks its arguments": [
        "test_bad_input.py::test_bad_input_raises_a_clear_error",
        "test_bad_input_subprocess.py::test_bad_input_raises_without_crashing",
    ],
    "Values the float32 core cannot hold are refused": [
        "test_hyperparameter_checks.py::test_a_clip_value_that_float32_rounds_to_zero_or_inf_is_refused",
        "test_hyperparameter_checks.py::test_a_learning_rate_beyond_float32_is_refused",
        "test_hyperparameter_checks.py::test_an_initializer_that_draws_nan_or_inf_is_refused_at_build",
        "test_hyperparameter_checks.py::test_a_sample_too_large_to_index_is_refused_with_its_shape",
    ],
    "NumPy scalars such as": [
        "test_hyperparameter_checks.py::test_numpy_float32_hyperparameters_are_accepted_like_python_floats",
        "test_hyperparameter_checks.py::test_trainable_must_be_a_boolean_in_a_config_and_on_a_layer",
    ],
    "Unknown names list the valid ones.": [
        "test_initializers.py::test_get_unknown_name_lists_valid_names",
    ],
    "Non-finite values.": [
        "test_robustness.py::test_nonfinite_data_is_a_value_error_by_default",
        "test_robustness.py::test_learning_rate_1e6_stops_with_a_message_and_the_weights_before_the_bad_step",
    ],
    "NaN or Inf in `x` or `y`": [
        "test_robustness.py::test_nonfinite_data_is_a_value_error_by_default",
        "test_robustness.py::test_nonfinite_data_is_accepted_with_allow_nonfinite",
    ],
    "A training step whose loss, gradients": [
        "test_robustness.py::test_learning_rate_1e6_stops_with_a_message_and_the_weights_before_the_bad_step",
        "test_robustness.py::test_a_step_that_is_not_applied_leaves_the_batch_norm_moving_statistics",
        "test_robustness.py::test_an_update_that_overflows_float32_is_not_applied",
        "test_optimizer_rules.py::test_a_nonfinite_gradient_changes_nothing",
    ],
    "A call with `training=True` on a batch with a NaN row": [
        "test_batch_norm.py::test_a_training_call_on_a_batch_with_nan_leaves_the_moving_statistics_finite",
    ],
    "Threads.": [
        "test_threads.py::test_four_threads_predicting_at_once_agree_with_single_threaded_results",
        "test_thread_team.py::test_pools_forked_while_another_thread_trains_do_not_deadlock",
    ],
    "Every computation takes one process-wide lock": [
        "test_threads.py::test_four_threads_predicting_at_once_agree_with_single_threaded_results",
        "test_threads.py::test_fit_in_one_thread_while_another_predicts_on_the_same_model",
        "test_threads.py::test_two_models_sharing_layers_train_concurrently",
    ],
    "A thread count the system cannot start": [
        "test_thread_team.py::test_an_impossible_thread_count_raises_instead_of_ending_the_process",
        "cpp/tests/test_thread_team.cpp::ThreadTeamDeathTest.ARefusedThreadIsAThreadStartError",
    ],
    "A process forked after training, or while another thread trains": [
        "test_thread_team.py::test_forked_children_train_on_fresh_threads_after_the_parent_trained",
        "test_thread_team.py::test_pools_forked_while_another_thread_trains_do_not_deadlock",
        "cpp/tests/test_thread_team.cpp::ThreadTeam.AForkWhileAnotherThreadComputesLeavesTheChildAbleToCompute",
    ],
    "Determinism.": [
        "test_robustness.py::test_same_seeds_and_thread_count_give_bit_identical_weights",
    ],
    "The same seeds and the same thread count": [
        "test_robustness.py::test_same_seeds_and_thread_count_give_bit_identical_weights",
        "cpp/tests/test_thread_cap.cpp::ThreadCap.ParallelSumHasTheSameBitsUnderACap",
    ],
    # what is promised is the same thread count; this sentence bounds the promise
    "Between different thread counts": [
        "test_robustness.py::test_same_seeds_and_thread_count_give_bit_identical_weights",
    ],
    "Memory.": [
        "test_robustness.py::test_fit_on_200_mb_of_float32_does_not_copy_the_data",
    ],
    "`fit` gathers each batch from your array by index": [
        "test_robustness.py::test_fit_on_200_mb_of_float32_does_not_copy_the_data",
        "cpp/tests/test_allocations.cpp::Allocations.SteadyStateTrainStepAllocatesNothing",
        "cpp/tests/test_allocations.cpp::Allocations.SteadyStateTrainEpochWithPartialLastBatchAllocatesNothing",
    ],
    "Saving.": [
        "test_saving.py::test_kill_during_save_leaves_a_loadable_file",
    ],
    "Saving is atomic": [
        "test_saving.py::test_kill_during_save_leaves_a_loadable_file",
        "test_saving.py::test_failed_save_keeps_the_previous_file",
    ],
    "A temporary left by a process killed mid-save": [
        "test_file_safety.py::test_the_next_save_removes_the_temporary_of_a_process_killed_mid_save",
        "test_file_safety.py::test_a_save_leaves_the_temporary_of_a_process_still_saving",
        "test_file_safety.py::test_only_temporaries_of_the_saved_file_are_removed",
    ],
    "A read-only file is not replaced": [
        "test_file_safety.py::test_saving_onto_a_read_only_file_raises_and_leaves_it",
    ],
    "Saving onto a symbolic link": [
        "test_file_safety.py::test_saving_onto_a_symbolic_link_writes_the_file_it_points_to",
    ],
    "`ModelCheckpoint` saves the same way.": [
        "test_file_safety.py::test_checkpoints_are_written_through_the_same_guards",
    ],
    "Loading.": [
        "test_fuzz_loading.py::test_fuzzing_the_loaders_finds_no_crash",
    ],
    "Loading runs no code from the file": [
        "test_saving.py::test_unknown_layer_type_names_the_layer",
        "test_saving.py::test_truncated_and_non_numeric_weights_files",
    ],
    "It reads nothing but the file you name": [
        "test_hostile_files.py::test_entries_that_point_at_other_files_are_refused_and_change_nothing",
    ],
    "Sizes are checked before data is read": [
        "test_hostile_files.py::test_a_dataset_declaring_4_gib_is_refused_before_it_is_read",
        "test_hostile_files.py::test_a_zip_bomb_is_refused_before_it_is_decompressed",
        "test_hostile_files.py::test_a_weights_file_larger_than_the_model_can_need_is_refused_unread",
        "test_hostile_files.py::test_a_chunk_larger_than_its_dataset_is_refused",
        "test_hostile_files.py::test_the_size_limits_leave_files_of_real_models_alone",
    ],
    "A config nested more than 64 levels deep": [
        "test_hostile_files.py::test_deeply_nested_json_is_a_value_error",
        "test_hostile_files.py::test_loading_a_config_builds_each_layer_once_and_the_network_once",
        "test_hostile_files.py::test_a_20000_layer_config_loads_and_round_trips",
    ],
    "Every refusal is a `ValueError` naming the file": [
        "test_saving.py::test_mismatched_weights_raise_and_leave_the_model_unchanged",
        "test_saving.py::test_second_layer_mismatch_leaves_the_first_unchanged",
        "test_saving.py::test_not_a_zip_and_missing_file",
        "test_optimizer_saving.py::test_bad_optimizer_state_raises_naming_the_variable_and_changes_nothing",
        "test_hostile_files.py::test_a_bad_iteration_count_is_a_value_error",
        "test_hostile_files.py::test_a_slot_beyond_float32_is_refused_without_a_warning",
        "test_fuzz_loading.py::test_fuzzing_the_loaders_finds_no_crash",
        "test_fuzz_loading.py::test_inputs_the_fuzzer_found_are_refused_as_load_errors",
    ],
}


def _sentences():
    """The section's sentences; each bullet's bold title is one of them."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Errors and guarantees\n", 1)[1].split("\n## ", 1)[0]
    sentences = []
    for item in re.split(r"\n- ", "\n" + section.strip()):
        item = " ".join(item.split())
        title = re.match(r"\*\*(.+?)\*\*\s*", item)
        if title:
            sentences.append(title.group(1))
            item = item[title.end() :]
        sentences += [s for s in re.split(r"(?<=\.)\s+(?=[A-Z`(])", item) if s]
    return sentences


def _key(sentence):
    keys = [key for key in GUARANTEES if sentence.startswith(key)]
    return keys[0] if len(keys) == 1 else None


def test_every_sentence_of_the_section_names_its_tests():
    sentences = _sentences()
    assert len(sentences) >= 20
    unbacked = [s for s in sentences if _key(s) is None]
    assert not unbacked, f"sentences without exactly one entry in GUARANTEES: {unbacked}"
    unused = set(GUARANTEES) - {_key(s) for s in sentences}
    assert not unused, f"entries that match no sentence of the README: {sorted(unused)}"


def _python_tests(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def _cpp_tests(path):
    with open(path, encoding="utf-8") as f:
        return {
            f"{suite}.{name}"
            for suite, name in re.findall(r"^TEST(?:_F)?\((\w+),\s*(\w+)\)", f.read(), re.M)
        }


@pytest.mark.parametrize("reference", sorted({t for ts in GUARANTEES.values() for t in ts}))
def test_every_named_test_exists(reference):
    file, name = reference.split("::")
    if file.startswith("cpp/"):
        assert name in _cpp_tests(os.path.join(ROOT, file)), reference
    else:
        assert name in _python_tests(os.path.join(ROOT, "tests", file)), reference
