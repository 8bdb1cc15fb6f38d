//! Running pgbench and reading what it measured: its summary, and the
//! per-transaction latencies of its logs.

use std::{path::Path, process::Stdio, time::Duration};

use anyhow::Context;

use crate::stats::{Latencies, Run};

/// How pgbench is run: which binary, how many clients, in which schema.
pub struct PgBench<'a> {
    pub bin: &'a Path,
    pub concurrency: usize,
    pub schema: &'a str,
}

/// Runs pgbench; with `log_dir`, reads its per-transaction log for latencies.
pub async fn pgbench(
    p: &PgBench<'_>,
    url: &str,
    script: &Path,
    threads: usize,
    per_client: usize,
    defines: &[(&str, String)],
    log_dir: Option<&Path>,
) -> anyhow::Result<Run> {
    let mut cmd = tokio::process::Command::new(p.bin);
    cmd.args(["-n", "-M", "prepared"])
        .args(["-c", &p.concurrency.to_string()])
        .args(["-j", &threads.to_string()])
        .args(["-t", &per_client.to_string()])
        .arg("-f")
        .arg(script);
    for (k, v) in defines {
        cmd.arg("-D").arg(format!("{k}={v}"));
    }
    let prefix = log_dir.map(|d| d.join("pgbench_log"));
    if let Some(prefix) = &prefix {
        cmd.arg("-l")
            .arg(format!("--log-prefix={}", prefix.display()));
    }
    cmd.arg(url)
        .env("PGOPTIONS", format!("-c search_path={}", p.schema))
        .env("PGAPPNAME", "relais-bench")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = cmd.output().await.with_context(|| {
        format!(
            "failed to run {} (set PG_BINDIR or --pgbench)",
            p.bin.display()
        )
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "pgbench failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let summary = parse_pgbench(&stdout)
        .with_context(|| format!("unexpected pgbench output:\n{stdout}\n{stderr}"))?;
    anyhow::ensure!(
        summary.failed == 0 && summary.processed == summary.planned,
        "pgbench processed {}/{} transactions, {} failed:\n{stdout}\n{stderr}",
        summary.processed,
        summary.planned,
        summary.failed
    );
    let latencies = match log_dir {
        Some(dir) => Some(Latencies::new(read_pgbench_logs(dir)?)),
        None => None,
    };
    Ok(Run {
        ops: summary.processed,
        elapsed: Duration::from_secs_f64(summary.processed as f64 / summary.tps),
        latencies,
    })
}

#[derive(Debug, PartialEq)]
struct PgbenchSummary {
    processed: u64,
    planned: u64,
    failed: u64,
    tps: f64,
}

fn parse_pgbench(stdout: &str) -> Option<PgbenchSummary> {
    let mut processed = None;
    let mut failed = 0;
    let mut tps = None;
    for line in stdout.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("number of transactions actually processed:") {
            let (done, planned) = rest.trim().split_once('/')?;
            processed = Some((done.trim().parse().ok()?, planned.trim().parse().ok()?));
        } else if let Some(rest) = line.strip_prefix("number of failed transactions:") {
            failed = rest.split_whitespace().next()?.parse().ok()?;
        } else if let Some(rest) = line.strip_prefix("tps =") {
            // Only pgbench ≥ 14 prints one line; older ones print two, the
            // second "excluding connections establishing".
            if tps.is_none() || rest.contains("without") || rest.contains("excluding") {
                tps = Some(rest.split_whitespace().next()?.parse().ok()?);
            }
        }
    }
    let (processed, planned) = processed?;
    let tps: f64 = tps?;
    (tps > 0.0).then_some(PgbenchSummary {
        processed,
        planned,
        failed,
        tps,
    })
}

/// Per-transaction logs (`client tx latency_us script epoch us`), one file
/// per thread.
fn read_pgbench_logs(dir: &Path) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("failed to read {}", dir.display()))?
    {
        let path = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("pgbench_log."));
        if !is_log {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("failed to read {}", path.display()))?;
        for line in text.lines() {
            let us: u64 = line
                .split_whitespace()
                .nth(2)
                .and_then(|f| f.parse().ok())
                .with_context(|| format!("unexpected pgbench log line {line:?}"))?;
            out.push(Duration::from_micros(us));
        }
    }
    anyhow::ensure!(!out.is_empty(), "pgbench wrote no transaction log");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pgbench_15_output() {
        let out = "pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: catalogue_insert.sql
number of clients: 16
number of transactions per client: 50
number of transactions actually processed: 800/800
number of failed transactions: 0 (0.000%)
latency average = 6.882 ms
initial connection time = 97.421 ms
tps = 2324.905551 (without initial connection time)
";
        assert_eq!(
            parse_pgbench(out),
            Some(PgbenchSummary {
                processed: 800,
                planned: 800,
                failed: 0,
                tps: 2324.905551
            })
        );
        assert_eq!(parse_pgbench("garbage"), None);
    }
}
