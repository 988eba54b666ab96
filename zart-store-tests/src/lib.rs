//! The conformance suite of Zart's store contract ([`zart_core::store`]).
//!
//! Every driver runs it unchanged: `zart_store_tests::conformance!(fresh_store);` in a test
//! target expands to one `#[tokio::test]` per case, each on a store of its own, where
//! `fresh_store` is an `async fn()` giving an empty, migrated store: an `Arc<dyn Store>`,
//! or a pair of one and a guard kept until the case ends ([`Fresh`]). The
//! test target needs `tokio` (with the `macros` and `rt-multi-thread` features) among its
//! dependencies, as `#[tokio::test]` does.
//!
//! Each case is also a plain `pub async fn(Arc<dyn Store>)` in its module, named as the
//! sentence it checks, which panics on a contract violation; a driver can run one alone.
//! The cases use only the contract: no SQL, no table names, nothing of a driver.
//!
//! Instants the cases write are whole milliseconds (a store may keep no finer), and the
//! checks on "now" allow seconds of slack: the store's clock is the database's.
//!
//! One case expects push notifications ([`notify::a_listener_hears_of_an_insert`]); see
//! its documentation.
#![warn(missing_docs)]

mod support;

#[doc(hidden)]
pub use zart_core as __zart_core;

pub mod cancel;
pub mod claims;
pub mod controls;
pub mod end_effects;
pub mod events;
pub mod fencing;
pub mod insert;
pub mod inspect;
pub mod leases;
pub mod notify;
pub mod outcomes;
pub mod rescue;
pub mod schedules;
pub mod steps;
pub mod suspended;
pub mod ticks;
pub mod units;
pub mod workers;

/// What a driver's `fresh_store` gives each case: the store, alone or with a guard that
/// lives until the case ends (one that removes the store's database when dropped).
pub trait Fresh {
    /// The store the case runs on.
    fn store(&self) -> std::sync::Arc<dyn zart_core::store::Store>;
}

impl Fresh for std::sync::Arc<dyn zart_core::store::Store> {
    fn store(&self) -> std::sync::Arc<dyn zart_core::store::Store> {
        self.clone()
    }
}

impl<Guard> Fresh for (std::sync::Arc<dyn zart_core::store::Store>, Guard) {
    fn store(&self) -> std::sync::Arc<dyn zart_core::store::Store> {
        self.0.clone()
    }
}

/// One `#[tokio::test]` per conformance case, each given a store from `$fresh` (a path to an
/// `async fn()` giving a [`Fresh`] store). The tests are grouped in modules named as the suite's.
#[macro_export]
macro_rules! conformance {
    ($fresh:path) => {
        $crate::__conformance_cases! {
            $fresh;
            insert {
                an_insert_returns_the_inserted_ids_in_input_order,
                an_insert_skips_existing_ids_without_overwriting_them,
                an_id_repeated_in_one_insert_is_inserted_once,
                an_empty_insert_inserts_nothing,
            }
            claims {
                a_claim_takes_only_due_tasks,
                a_claim_takes_the_oldest_due_tasks_first_up_to_its_limit,
                a_claim_scope_restricts_the_names_claimed,
                a_claimed_task_comes_with_its_record_and_becomes_running,
                each_claim_counts_an_attempt_and_gives_a_fresh_token,
                a_running_task_is_not_claimed_twice,
                concurrent_claimers_take_each_task_exactly_once,
                a_durable_claim_brings_the_step_log,
                a_durable_execution_without_steps_comes_with_an_empty_log,
                a_tick_is_claimable_when_its_name_is_in_scope,
            }
            leases {
                a_heartbeat_extends_only_that_workers_running_tasks,
                a_heartbeat_keeps_a_lease_from_expiring,
                an_ended_task_keeps_its_last_worker_but_no_lease,
                heartbeats_and_outcome_batches_never_deadlock,
            }
            outcomes {
                a_completed_outcome_stores_the_result,
                a_retry_makes_the_task_pending_at_its_run_at_with_the_error,
                a_failed_outcome_ends_the_task,
                a_suspension_does_not_count_the_attempt,
                a_suspension_after_an_event_sent_during_the_attempt_is_due_at_once,
                a_suspension_ignores_events_sent_before_the_attempt,
                one_finish_stores_many_outcomes,
                a_released_task_is_due_now_without_counting_the_attempt,
            }
            fencing {
                a_stale_token_cannot_finish_a_task,
                an_ended_lease_cannot_write_again,
                a_stale_token_cannot_release_a_task,
                a_stale_token_cannot_complete_through_a_unit_of_work,
                a_stale_token_cannot_save_steps,
                a_stale_token_cannot_end_a_tick,
                a_stale_worker_heartbeat_extends_nothing,
            }
            rescue {
                an_expired_lease_is_requeued_with_a_rescue_counted,
                a_live_lease_is_not_rescued,
                a_task_rescued_too_often_is_marked_dead,
                with_no_rescue_allowed_an_expired_task_is_dead_at_once,
                a_tick_is_never_marked_dead,
                concurrent_rescues_handle_each_task_once,
            }
            cancel {
                cancelling_a_pending_task_ends_it_cancelled,
                a_task_cancelled_while_running_ends_cancelled_whatever_its_outcome,
                cancelling_an_ended_or_unknown_task_does_nothing,
                a_tick_cannot_be_cancelled,
                a_task_with_a_reserved_id_cannot_be_cancelled,
                a_rerun_puts_an_ended_task_back_with_a_clean_slate,
                a_rerun_leaves_unended_tasks_alone,
                a_rerun_forgets_steps_and_events_only_when_asked,
                a_rerun_clears_a_stop_request,
            }
            steps {
                saved_steps_load_back_in_call_order,
                the_store_sets_when_a_step_was_recorded,
                a_recorded_position_is_refused,
                a_retrying_step_is_replaced_by_a_later_attempt_of_the_same_step,
                a_step_of_an_execution_asked_to_stop_is_cancelled,
                a_batch_of_steps_is_judged_step_by_step,
                a_steps_failed_attempts_are_kept_with_it,
            }
            events {
                events_are_kept_and_found_by_name_and_index,
                an_event_wakes_a_suspended_execution,
                an_event_to_an_execution_that_is_not_suspended_wakes_nothing,
                a_child_is_started_once,
            }
            suspended {
                a_suspended_execution_reads_as_its_wait_with_what_it_waits_on,
                suspended_executions_are_filtered_and_counted_by_their_wait,
            }
            schedules {
                a_schedule_is_stored_once_and_read_back_whole,
                a_schedule_update_replaces_the_declaration_only,
                progress_and_next_slot_are_written,
                a_state_change_respects_the_states_it_starts_from,
                a_trigger_is_recorded_only_on_an_active_schedule,
                active_runs_are_the_unended_runs_oldest_due_first,
                cancelled_runs_end_at_once_and_stay_cancelled,
                history_is_kept_bounded_with_the_runs_status,
            }
            ticks {
                a_tick_is_created_as_given,
                setting_a_tick_again_resets_it,
                a_running_tick_is_not_reset,
                ending_a_tick_sets_its_next_state,
            }
            units {
                a_unit_of_work_dropped_without_commit_changes_nothing,
                a_committed_unit_of_work_applies_everything,
            }
            end_effects {
                an_occurrence_that_ends_wakes_its_tick_however_it_ends,
                a_tick_without_wake_on_finish_is_not_woken,
                an_occurrence_that_is_retried_wakes_nothing,
                a_running_tick_is_not_woken_by_its_runs_end,
                a_child_that_ends_notifies_its_parent,
                a_child_that_ends_while_its_parent_runs_leaves_the_parent_running,
            }
            inspect {
                a_task_reads_back_its_whole_record,
                listings_are_newest_first_filtered_and_without_ticks,
                listings_order_tasks_created_together_by_id,
                pages_follow_the_cursor_through_every_task_once,
                filters_take_prefixes_name_sets_ranges_children_and_holders,
                counts_group_by_name_and_status_with_the_oldest_due,
                the_load_counts_due_and_running_tasks_by_name,
                ended_tasks_are_counted_per_minute_and_status,
                an_executions_events_are_listed_oldest_first,
                every_schedule_is_listed_by_id,
                failed_attempts_are_recorded_with_their_errors,
            }
            workers {
                a_recorded_worker_reads_back_with_its_declared_tasks,
                a_beat_refreshes_only_a_recorded_worker,
                silent_workers_are_forgotten_and_removed_ones_are_gone,
                a_later_declaration_of_a_name_replaces_the_earlier,
            }
            controls {
                declared_limits_read_back_and_a_later_declaration_replaces_them,
                pausing_and_resuming_say_whether_they_changed_anything,
                nothing_is_claimed_from_a_paused_queue,
                a_claim_in_a_queue_records_the_queue_and_counts_its_running_tasks,
                a_per_key_limit_holds_one_key_back_and_lets_others_through,
                a_rate_limit_counts_starts_whatever_became_of_the_tasks,
                a_rate_window_with_room_says_since_when,
                old_ended_tasks_are_deleted_with_their_records,
                changed_limits_hold_at_the_next_claim,
                an_override_holds_over_declarations_until_removed,
            }
            notify {
                the_ended_counter_moves_when_a_task_ends,
                a_listener_hears_of_an_insert,
            }
        }
    };
}

/// Expands the case list of [`conformance!`]: not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($fresh:path; $($module:ident { $($(#[$attr:meta])* $case:ident),* $(,)? })*) => {
        /// A fresh store for each case, whatever path the caller named.
        async fn __zart_conformance_store() -> impl $crate::Fresh {
            $fresh().await
        }

        $(
            mod $module {
                $(
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    $(#[$attr])*
                    async fn $case() {
                        // Kept to the case's end, also when it fails: it may own the
                        // store's database.
                        let fresh = super::__zart_conformance_store().await;
                        $crate::$module::$case($crate::Fresh::store(&fresh)).await;
                    }
                )*
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// Every case a module defines is in the list `conformance!` expands, so that a case
    /// added to a module is never silently left out of every driver's run.
    #[test]
    fn every_case_is_registered() {
        let lib = include_str!("lib.rs");
        // Every module the crate declares, read from the source: a module left out of a
        // hand-kept list would have its cases skipped on every driver unnoticed.
        let modules: Vec<(&str, String)> = lib
            .lines()
            .filter_map(|line| line.strip_prefix("pub mod ")?.strip_suffix(';'))
            .map(|module| {
                let path = format!("{}/src/{module}.rs", env!("CARGO_MANIFEST_DIR"));
                let source = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {path}: {e}"));
                (module, source)
            })
            .collect();
        assert!(modules.len() >= 17, "{} modules found", modules.len());
        for (module, source) in modules {
            let block_start = lib
                .find(&format!("            {module} {{\n"))
                .unwrap_or_else(|| panic!("module {module} is in the case list"));
            let block = &lib[block_start..];
            let block = &block[..block.find("            }\n").expect("the block ends")];
            for line in source.lines() {
                let Some(rest) = line.strip_prefix("pub async fn ") else {
                    continue;
                };
                let case = &rest[..rest.find('(').expect("a function")];
                assert!(
                    block.contains(&format!(" {case},\n")),
                    "case {module}::{case} is in the list conformance! expands"
                );
            }
        }
    }
}
