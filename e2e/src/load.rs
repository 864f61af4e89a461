//! Load on a port inside the sandbox while something else happens: `wrk` (Debian's) runs for
//! a fixed time against 127.0.0.1 in the sandbox's network namespace, and its report is read
//! back as numbers: requests, failures (non-2xx/3xx answers and socket errors) and latency
//! percentiles.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::host::TestHost;
use crate::wait::wait_until;

/// What one `wrk` run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Load {
    pub requests: u64,
    /// Answers that were not 2xx or 3xx.
    pub non_2xx: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Load {
    pub fn failed(&self) -> u64 {
        self.non_2xx + self.socket_errors
    }
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests ({:.0}/s), {} failed ({} non-2xx, {} socket errors), p50 {:.2} ms, p99 {:.2} ms",
            self.requests,
            self.requests_per_sec,
            self.failed(),
            self.non_2xx,
            self.socket_errors,
            self.p50_ms,
            self.p99_ms
        )
    }
}

impl TestHost {
    /// Runs `during` while `wrk` loads `url` for `duration` (2 threads, 8 connections);
    /// `during` starts once wrk runs, and must end before wrk does, so that all of it was
    /// under load. Returns what `during` returned and the load.
    pub async fn under_load<T, F>(
        &self,
        url: &str,
        duration: Duration,
        during: F,
    ) -> Result<(T, Load)>
    where
        F: Future<Output = Result<T>>,
    {
        let secs = format!("-d{}s", duration.as_secs());
        let wrk = self.exec(["wrk", "-t2", "-c8", &secs, "--latency", url]);
        let work = async {
            wait_until(Duration::from_secs(10), "wrk running", || async {
                Ok(self
                    .exec(["pgrep", "-x", "wrk"])
                    .await?
                    .success()
                    .then_some(()))
            })
            .await?;
            let began = Instant::now();
            let out = during.await?;
            Ok::<_, anyhow::Error>((out, began.elapsed()))
        };
        let (wrk, work) = tokio::join!(wrk, work);
        let (out, took) = work?;
        let wrk = wrk?.ok()?;
        if took + Duration::from_secs(1) >= duration {
            bail!(
                "the work took {took:?}, not all of it under {duration:?} of load; raise the duration"
            );
        }
        let load = parse(&wrk.stdout).with_context(|| format!("wrk said:\n{}", wrk.stdout))?;
        Ok((out, load))
    }
}

/// Reads wrk's report (with `--latency`).
pub fn parse(report: &str) -> Result<Load> {
    let mut load = Load::default();
    for line in report.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => load.p50_ms = millis(v)?,
            ["99%", v] => load.p99_ms = millis(v)?,
            [n, "requests", "in", ..] => load.requests = n.parse()?,
            ["Requests/sec:", v] => load.requests_per_sec = v.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => load.non_2xx = n.parse()?,
            ["Socket", "errors:", rest @ ..] => {
                load.socket_errors = rest
                    .iter()
                    .map(|w| w.trim_end_matches(','))
                    .filter_map(|w| w.parse::<u64>().ok())
                    .sum();
            }
            _ => {}
        }
    }
    if load.requests == 0 {
        bail!("no request count in wrk's report");
    }
    Ok(load)
}

/// `812.00us`, `1.58ms`, `2.01s` in milliseconds.
fn millis(v: &str) -> Result<f64> {
    let (number, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        bail!("no unit on latency {v}");
    };
    Ok(number.parse::<f64>()? * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_should_read_counts_failures_and_percentiles() {
        let report = "Running 12s test @ http://127.0.0.1:8080/version
  2 threads and 8 connections
  Latency Distribution
     50%  812.00us
     99%   35.22ms
  52391 requests in 12.09s, 8.29MB read
  Socket errors: connect 3, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   4331.82
";
        let load = parse(report).unwrap();
        assert_eq!(load.requests, 52391);
        assert_eq!(load.socket_errors, 6);
        assert_eq!(load.non_2xx, 7);
        assert_eq!(load.failed(), 13);
        assert!((load.p50_ms - 0.812).abs() < 1e-9);
        assert!((load.p99_ms - 35.22).abs() < 1e-9);
        assert!((load.requests_per_sec - 4331.82).abs() < 1e-9);
    }
}
