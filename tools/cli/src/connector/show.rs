//! How the connector's answers read on a terminal: a run, a refusal.

use relais_proto::connector::{Run, RunStatus};

pub(crate) use crate::client::refused;

pub fn run_status(r: &Run) -> String {
    RunStatus::try_from(r.status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("RUN_STATUS_")
                .to_lowercase()
        })
        .unwrap_or_default()
}

pub fn show_run(r: &Run) -> String {
    format!(
        "{} {:<10} {:<9} {:<9} {}/{} done, {} applied, {} skipped, {} failed, {} ms{}",
        r.id,
        r.family,
        r.trigger,
        run_status(r),
        r.done,
        r.total,
        r.applied,
        r.skipped,
        r.failed,
        r.duration_ms,
        if r.errors.is_empty() {
            String::new()
        } else {
            format!("\n    {}", r.errors.join("\n    "))
        }
    )
}
