//! `DockerEngine` against a real Docker engine (Debian 12's `docker.io`, API 1.41): life cycle,
//! output, limits and security settings as the kernel sees them, listing by label.
//!
//! The scenarios live in `common/scenarios.rs` and also run against Podman. Needs an engine
//! (see `common`): these tests fail, never skip, without one.

#[macro_use]
mod common;

scenario_tests!(common::engine, common::scenarios::DOCKER;
    info_reports_the_kind_and_the_negotiated_api_version,
    the_test_image_is_inspected_and_absent_images_are_none,
    exit_codes_zero_and_three_are_reported,
    stdout_and_stderr_are_kept_apart,
    following_logs_streams_while_running_and_ends_at_exit,
    stop_kills_a_sleep_after_the_timeout_and_init_forwards_sigterm,
    remove_refuses_a_running_container_unless_forced,
    hardened_settings_are_applied_and_in_effect,
    writing_to_a_read_only_mount_fails,
    the_oom_killer_ends_a_container_over_its_memory_limit,
    containers_are_listed_by_label_including_stopped_ones,
    named_containers_can_be_addressed_by_name,
    paths_are_found_in_a_created_container_before_it_starts,
    creating_from_a_missing_image_is_image_not_found,
    a_missing_mount_source_is_refused_or_created,
    pulling_from_an_unreachable_registry_fails_with_the_reference,
    exporting_the_test_image_yields_a_docker_save_tarball,
    exec_runs_commands_in_a_running_container,
);
